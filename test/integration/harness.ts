/**
 * One real local cluster for the whole integration suite (started on first use, removed after
 * the last test), and helpers that act as a user would: the CLI's commands, the REST API.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { BalancerUpdate, Migration, Process } from '@godwit/schemas';
import { type Fetch, fetchOver } from '@godwit/schemas/tls';
import { clusterDown, clusterUp, restartComponent, stopComponent, type ClusterInfo } from '../../cli/src/cluster/index.js';

export const REPO = join(import.meta.dirname, '..', '..');
const CLI = join(REPO, 'cli', 'dist', 'bin');

/**
 * where tests put the files their programs use: in the checkout, which every node shares, unlike
 * /tmp, which is each node's own (as on real machines); world-writable and sticky, as /tmp is
 */
const SCRATCH = join(REPO, 'test', '.scratch');

/** A new directory, seen alike by the host and every node's programs; the caller removes it. */
export function scratchDir(prefix: string): string {
  mkdirSync(SCRATCH, { recursive: true });
  chmodSync(SCRATCH, 0o1777);
  return mkdtempSync(join(SCRATCH, prefix));
}

/** where the last run's orchestrator and agent logs are kept */
export const LAST_LOGS = join(tmpdir(), 'godwit-test-logs');

let started: Promise<Harness> | undefined;
/** the variant the started cluster is (JSON): another variant asked for starts a cluster anew */
let startedVariant = '{}';

/** what a test file's cluster has that the standard one has not */
export interface ClusterVariant {
  /** node name -> CPU features its agent reports as absent (a simulation of a lesser CPU) */
  cpuFeatureMask?: Record<string, string[]>;
}

export interface Harness {
  info: ClusterInfo;
  env: NodeJS.ProcessEnv;
  home: string;
  /** the token its API calls carry unless told otherwise: the client's, or the guest's in asGuest's view */
  token: string;
  /** fetch as a client of the cluster: trusts its CA (its orchestrator serves https), shows no certificate */
  fetch: Fetch;
}

/** the suite's cluster id: GODWIT_TEST_CLUSTER_ID (default 42), one per run that shares this machine */
export const suiteClusterId = (): number => Number(process.env.GODWIT_TEST_CLUSTER_ID ?? 42);

/**
 * The id of a cluster a file brings up beside the suite's: 100 away from the suite's (ids are
 * 1..200), so that runs of other ids on this machine never collide with it.
 */
export const besideClusterId = (): number => (suiteClusterId() > 100 ? suiteClusterId() - 100 : suiteClusterId() + 100);

/**
 * The suite's cluster: 3 nodes, cluster id suiteClusterId(). A file that
 * asks for a variant gets a cluster of its own, and the next file that asks for the standard one
 * (or another variant) a fresh one: nothing of a variant outlives its file's use of it.
 */
export async function cluster(variant: ClusterVariant = {}): Promise<Harness> {
  const key = JSON.stringify(variant);
  if (started && key !== startedVariant) await teardown();
  startedVariant = key;
  started ??= (async () => {
    const home = scratchDir('godwit-test-');
    const id = suiteClusterId();
    const info = await clusterUp({ home, id, nodes: 3, cpus: 1, memMiB: 4096, log: () => undefined, ...(variant.cpuFeatureMask ? { cpuFeatureMask: variant.cpuFeatureMask } : {}) });
    const env = { ...process.env, GODWIT_HOME: home, GODWIT_CONFIG: info.clientConfigPath };
    const h = { info, env, home, token: info.client.token, fetch: fetchOver(info.client.ca ? { ca: Buffer.from(info.client.ca) } : undefined) };
    // the programs of a test stay where it put them; the balancer's and automatic freezing's own tests turn them on
    await setBalancer(h, { enabled: false, autoFreeze: false });
    return h;
  })();
  return started;
}

/** Changes the balancer's settings as the cluster's administrator. */
export async function setBalancer(h: Harness, change: BalancerUpdate): Promise<void> {
  const admin = JSON.parse(readFileSync(h.info.adminConfigPath, 'utf8')) as { token: string };
  const res = await api(h, 'PUT', '/v1/balancer', change, admin.token);
  if (res.status !== 200) throw new Error(`PUT /v1/balancer ${JSON.stringify(change)} answered ${res.status}: ${JSON.stringify(res.body)}`);
}

/**
 * The mosruns still running: a test that failed before its program ended leaves its mosrun
 * waiting for the orchestrator, which outlives the cluster and holds the test run open.
 */
const running = new Set<ResultPromise>();

export async function teardown(): Promise<void> {
  for (const child of running) child.kill('SIGKILL');
  await Promise.allSettled(running);
  if (!started) return;
  const h = await started.catch(() => undefined);
  started = undefined;
  if (!h) return;
  const report = await clusterDown({ home: h.home, log: () => undefined });
  if (report.problems.length) process.stderr.write(`cluster down left problems: ${report.problems.join('; ')}\n`);
  // the components' logs outlive the run, for reading after a failure
  rmSync(LAST_LOGS, { recursive: true, force: true });
  renameSync(h.info.logsDir, LAST_LOGS);
  rmSync(h.home, { recursive: true, force: true });
}

/** a Unix account a command runs as (through setpriv), instead of the test's own (root) */
export interface RunAs {
  uid: number;
  gid: number;
}

/** `node ARGS`, as `as` when given: its uid and gid, no other group */
function nodeCommand(args: string[], as?: RunAs): [string, string[]] {
  return as ? ['setpriv', [`--reuid=${as.uid}`, `--regid=${as.gid}`, '--clear-groups', '--', process.execPath, ...args]] : ['node', args];
}

/**
 * The environment of a user on a node with no token: no GODWIT_CONFIG or GODWIT_HOME, the CLI
 * talks to the node's agent on its local socket, which learns who it is from the kernel.
 */
export function localEnv(h: Harness, node = 0): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, GODWIT_AGENT_SOCKET: h.info.nodes[node]!.socket };
}

/** Runs one of the CLI's commands to completion, as a user at node 0 would. */
export async function cli(
  h: Harness,
  bin: 'godwit' | 'mosrun' | 'mosmigrate' | 'mosps' | 'mosctl' | 'mossetpe',
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; as?: RunAs } = {},
) {
  const [command, argv] = nodeCommand([join(CLI, `${bin}.js`), ...args], opts.as);
  return execa(command, argv, {
    env: opts.env ?? h.env,
    extendEnv: opts.env === undefined,
    reject: false,
    timeout: 180_000,
    cwd: opts.cwd ?? REPO,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
}

/** A foreground `mosrun` whose output a test watches while it runs. */
export interface Run {
  child: ResultPromise;
  stdout: () => string;
  stderr: () => string;
  /** waits until stdout matches; the error shows what was printed */
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
  /** godwit's id of the process, from `mosrun -v` */
  id: () => Promise<number>;
}

/** the environment in which the CLI acts as the cluster's guest, whose programs run as an unprivileged account */
export function guestEnv(h: Harness): NodeJS.ProcessEnv {
  // mosrun hands its PATH to the program; root's may put shims of its own first (pyenv's python3
  // under /root, which godwit-guest cannot enter): the system's directories first make
  // `#!/usr/bin/env python3` and `node` the world-executable binaries there
  return { ...h.env, GODWIT_CONFIG: h.info.guestConfigPath, PATH: ['/usr/bin', '/bin', h.env.PATH].filter(Boolean).join(':') };
}

/**
 * The cluster as its guest: mosrun, the CLI's commands and API calls through this view act as
 * the guest, whose programs run as the unprivileged account godwit-guest. For the suites whose
 * programs need no root; setBalancer still acts as the administrator.
 */
export function asGuest(h: Harness): Harness {
  return { ...h, env: guestEnv(h), token: h.info.guest.token };
}

/** A new scratch directory the guest owns, for its programs' files; the caller removes it. */
export function guestDir(h: Harness, prefix: string): string {
  const dir = scratchDir(prefix);
  chownSync(dir, h.info.guestAccount.uid, h.info.guestAccount.gid);
  return dir;
}

export function mosrun(h: Harness, args: string[], opts: { input?: boolean; cwd?: string; env?: NodeJS.ProcessEnv; as?: RunAs } = {}): Run {
  const [command, argv] = nodeCommand([join(CLI, 'mosrun.js'), '-v', ...args], opts.as);
  const child = execa(command, argv, {
    env: opts.env ?? h.env,
    extendEnv: opts.env === undefined,
    reject: false,
    cwd: opts.cwd ?? REPO,
    stdin: opts.input ? 'pipe' : 'ignore',
    buffer: false,
    timeout: 600_000,
  });
  running.add(child);
  void child.finally(() => running.delete(child));
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c));
  const waitUntil = async <T>(probe: () => T | null | undefined, what: string, timeoutMs: number): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = probe();
      if (v) return v;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; mosrun stdout: ${JSON.stringify(out.slice(-800))}; stderr: ${JSON.stringify(err.slice(-800))}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor: (re, timeoutMs = 60_000) => waitUntil(() => re.exec(out), `${re} in the output`, timeoutMs),
    id: async () => Number((await waitUntil(() => /process (\d+) (?:started|recovered)/.exec(err), 'mosrun -v to print the process id', 60_000))[1]),
  };
}

/** Calls the orchestrator's REST API directly, as a scheduler would. */
export async function api<T = unknown>(h: Harness, method: string, path: string, body?: unknown, token = h.token) {
  const res = await h.fetch(new URL(path, h.info.url), {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json as T };
}

export async function processInfo(h: Harness, id: number): Promise<Process> {
  const res = await api<Process>(h, 'GET', `/v1/processes/${id}`);
  if (res.status !== 200) throw new Error(`GET /v1/processes/${id} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function migrations(h: Harness, id: number): Promise<Migration[]> {
  return (await api<Migration[]>(h, 'GET', `/v1/processes/${id}/migrations`)).body;
}

/**
 * Polls until `probe` returns a value; the error says what was seen last. `what` may be a
 * function, to describe what was seen by the time it gave up.
 */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string | (() => string), timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}${last ? `; last error: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** CRIU network lock tables left in any node's namespace: a move that ended must leave none. */
export async function lockTablesLeft(h: Harness): Promise<string[]> {
  const left: string[] = [];
  for (const n of h.info.nodes) {
    const res = await execa('nsenter', [`--net=/run/netns/${n.netns}`, '--', 'nft', 'list', 'tables'], { reject: false });
    for (const line of res.stdout.split('\n')) if (/CRIU-/.test(line)) left.push(`${n.name}: ${line.trim()}`);
  }
  return left;
}

export function program(name: string): string {
  return join(REPO, 'test', 'programs', name);
}

/** Kills a component of the cluster (the orchestrator or a node's agent) and starts it again. */
export async function crashAndRestart(h: Harness, name: string): Promise<void> {
  await stopComponent({ home: h.home, name, signal: 'SIGKILL' });
  await restartAndWait(h, name);
}

/** Starts a stopped component again and waits until every node is online, as the next test expects. */
export async function restartAndWait(h: Harness, name: string): Promise<void> {
  await restartComponent({ home: h.home, name });
  let seen = '';
  await eventually(async () => {
    const nodes = await api<{ name: string; state: string }[]>(h, 'GET', '/v1/nodes');
    seen = nodes.status === 200 ? nodes.body.map((n) => `${n.name} ${n.state}`).join(', ') : `status ${nodes.status}`;
    return nodes.status === 200 && nodes.body.every((n) => n.state === 'online') ? true : undefined;
  }, () => `every node online after ${name} restarted; seen: ${seen}`, 60_000);
}

/**
 * A minimal debugger: PTRACE_SEIZEs the process (so CRIU cannot dump it) and passes on every
 * signal that stops it, so it runs on as under strace, until stopped. Resolves once it holds it.
 */
export async function debuggerOn(pid: number): Promise<{ pid: number; stop: () => Promise<void> }> {
  const tracer = execa('python3', ['-u', '-c', [
    'import ctypes, os, sys',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'pid = int(sys.argv[1])',
    'r = libc.ptrace(0x4206, pid, 0, 0)',
    'print("seized" if r == 0 else f"failed {ctypes.get_errno()}", flush=True)',
    'while r == 0:',
    '    _, st = os.waitpid(pid, 0x40000000)',
    '    if not os.WIFSTOPPED(st):',
    '        break',
    '    libc.ptrace(7, pid, 0, os.WSTOPSIG(st) if st >> 16 == 0 else 0)',
  ].join('\n'), String(pid)], { reject: false, buffer: false });
  const stop = async () => {
    tracer.kill('SIGKILL');
    await tracer;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      tracer.stdout!.once('data', (d: Buffer) => (String(d).startsWith('seized') ? resolve() : reject(new Error(`tracer: ${String(d)}`))));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: tracer.pid!, stop };
}

/** The lines of a program's output that are plain numbers (what the counters print), in order. */
export const numbersIn = (out: string): number[] => out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);

/** 1, 2, ..., n: what a counter of n prints */
export const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/**
 * PID is held by a moved or frozen program's stand-in (godwit-deputy, which keeps its home PID),
 * not by the program: a zombie its holder has not reaped yet is no longer one.
 */
export function standInAt(pid: number): boolean {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return false;
  }
  return /^Name:\s*godwit-deputy$/m.test(status) && !/^State:\s*Z/m.test(status);
}
