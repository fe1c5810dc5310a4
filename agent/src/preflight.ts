/**
 * Looks at a program's tree, without stopping it, for what would make a move fail or break the
 * program, so the user hears why in words before anything is frozen (openMosix's "cantmove").
 */
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { GONE, passOver, passingOver } from './expected-errors.js';

/** Every process of the tree under (and including) root, by walking /proc children lists. */
export function treePids(root: number): number[] {
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch (err) {
      passOver(err, GONE);
      continue;
    }
    for (const t of tasks) {
      try {
        queue.push(...readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
      } catch (err) {
        passOver(err, GONE); // the task ended while we looked
      }
    }
  }
  return out;
}

/** the memory a tree really holds: its processes' proportional set sizes summed, in bytes */
export function treePss(root: number): number {
  return treePids(root).reduce(
    (sum, pid) =>
      sum + passingOver(GONE, 0, () => Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024),
    0,
  );
}

export function tracerOf(pid: number): number {
  return passingOver(GONE, 0, () => Number(/TracerPid:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0));
}

function socketInodes(pid: number): Set<number> {
  const inodes = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (err) {
    passOver(err, GONE);
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(Number(m[1]));
    } catch (err) {
      passOver(err, GONE); // closed meanwhile
    }
  }
  return inodes;
}

/** /proc/net/tcp writes IPv4 addresses as little-endian hex, IPv6 as four such words. */
function decodeAddress(hex: string): string {
  const [addr, port] = hex.split(':') as [string, string];
  if (addr.length === 8) {
    const bytes = addr.match(/../g)!.map((b) => parseInt(b, 16)).reverse();
    return `${bytes.join('.')}:${parseInt(port, 16)}`;
  }
  const words = addr.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(''));
  const groups = words.join('').match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, ''));
  return `[${groups.join(':')}]:${parseInt(port, 16)}`;
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address.startsWith('[0:0:0:0:0:0:0:1]') || address.startsWith('[0:0:0:0:0:ffff:7f');
}

const TCP_LISTEN = '0A';

interface TcpSocket {
  local: string;
  remote: string;
  listening: boolean;
}

/** The TCP sockets the tree holds, from its network namespace's tables. */
function tcpSockets(rootPid: number, pids: number[]): TcpSocket[] {
  const inodes = new Set<number>();
  for (const pid of pids) for (const ino of socketInodes(pid)) inodes.add(ino);
  const found: TcpSocket[] = [];
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${rootPid}/net/${table}`, 'utf8');
    } catch (err) {
      passOver(err, GONE); // no such table (IPv6 off), or the process ended
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(Number(f[9]))) continue;
      found.push({ local: decodeAddress(f[1]!), remote: decodeAddress(f[2]!), listening: f[3] === TCP_LISTEN });
    }
  }
  return found;
}

/** Whether the program's tree holds any TCP socket, connected or listening, loopback or not. */
export function holdsTcpSockets(rootPid: number): boolean {
  return tcpSockets(rootPid, treePids(rootPid)).length > 0;
}

/**
 * Whether the program may be dumped and held stopped at the source, its pages sent away, to
 * resume there if the move fails: only when its stopped copy holds nothing the restored one needs
 * too (see cannotMoveLazily).
 */
export function canResumeAfterDump(rootPid: number): boolean {
  return cannotMoveLazily(rootPid).length === 0;
}

/** Reasons the program cannot move off this node, in words; empty when nothing is in the way. */
export function cannotMove(rootPid: number, node: string): string[] {
  const pids = treePids(rootPid);
  const reasons: string[] = [];
  for (const pid of pids) {
    const tracer = tracerOf(pid);
    if (tracer) reasons.push(`process ${pid} is being traced by process ${tracer} (a debugger or strace): detach it first`);
  }
  for (const { local, remote, listening } of tcpSockets(rootPid, pids)) {
    if (isLoopback(local)) continue;
    if (listening) {
      if (/^(0\.0\.0\.0|\[0:0:0:0:0:0:0:0\]):/.test(local)) continue;
      reasons.push(`it listens on ${local}, an address of ${node} that no other node has (\`mosrun --ip\` gives a program an address of its own; moving such a program is not built yet)`);
    } else {
      reasons.push(`it has a TCP connection from ${local} to ${remote}; ${local.replace(/:\d+$/, '')} is ${node}'s own address, which no other node has (only connections over loopback can move; \`mosrun --ip\` gives a program an address of its own, though moving such a program is not built yet)`);
    }
  }
  return reasons;
}

/** The fds of a process with what they point at, skipping those closed while we look. */
function fdsOf(pid: number): { fd: string; target: string }[] {
  const fds = passingOver(GONE, [], () => readdirSync(`/proc/${pid}/fd`));
  return fds.flatMap((fd) => passingOver(GONE, [], () => [{ fd, target: readlinkSync(`/proc/${pid}/fd/${fd}`) }]));
}

/**
 * Reasons the program cannot move lazily, nor be held stopped at the source while it moves: its
 * stopped copy would still hold its file locks and FIFOs, on the file system the restored copy
 * shares (the restore waits for the lock forever), and a stopped tree's TCP sockets cannot be
 * handed back if the move fails.
 */
export function cannotMoveLazily(rootPid: number): string[] {
  const pids = treePids(rootPid);
  const reasons: string[] = [];
  for (const pid of pids) {
    for (const { fd, target } of fdsOf(pid)) {
      try {
        if (/^lock:/m.test(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))) reasons.push(`process ${pid} holds a lock on ${target}`);
        if (target.startsWith('/') && statSync(`/proc/${pid}/fd/${fd}`).isFIFO()) reasons.push(`process ${pid} has the FIFO ${target} open`);
      } catch (err) {
        passOver(err, GONE); // closed meanwhile
      }
    }
  }
  if (tcpSockets(rootPid, pids).length) reasons.push('it has TCP sockets, which only a full copy moves safely');
  return [...new Set(reasons)];
}

/** Resident memory of the whole tree, in bytes. */
export function residentBytes(rootPid: number): number {
  return pidsResidentBytes(treePids(rootPid));
}

/** the resident memory of these processes together (those gone count none) */
export function pidsResidentBytes(pids: readonly number[]): number {
  let kib = 0;
  for (const pid of pids) {
    try {
      kib += Number(/VmRSS:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch (err) {
      passOver(err, GONE); // ended meanwhile
    }
  }
  return kib * 1024;
}
