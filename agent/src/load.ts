/** What the agent reports about its node: CPU in use, memory free, programs running. */
import { readFileSync } from 'node:fs';
import { cpus, freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import type { NodeLoad } from '@godwit/schemas';
import { passOver, passingOver } from './expected-errors.js';

function readNumber(path: string): number | null {
  // a file this kind of group does not have
  const n = passingOver(['ENOENT'], NaN, () => Number(readFileSync(path, 'utf8').trim().split(/\s+/)[0]));
  return Number.isFinite(n) ? n : null;
}

/** CPU time a control group used so far, in ns (v1 cpuacct or v2 cpu.stat); null where none of them counts it */
export function groupCpuNs(cgroups: readonly string[]): number | null {
  for (const dir of cgroups) {
    const v1 = readNumber(join(dir, 'cpuacct.usage'));
    if (v1 !== null) return v1;
    try {
      const stat = readFileSync(join(dir, 'cpu.stat'), 'utf8');
      const usec = /usage_usec (\d+)/.exec(stat)?.[1];
      if (usec) return Number(usec) * 1000;
    } catch (err) {
      passOver(err, ['ENOENT']); // not a v2 group with cpu.stat
    }
  }
  return null;
}

/** CPU time the host has been busy, in ns: all but idle and iowait, over every CPU */
export function hostBusyNs(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = fields.reduce((a, b) => a + b, 0) - (fields[3] ?? 0) - (fields[4] ?? 0);
  return (busy * 1e9) / 100; // USER_HZ is 100 on Linux
}

/** CPU time used so far, in ns: the node's control group where it has one, else the host's. */
function cpuTimeNs(cgroups: readonly string[]): number {
  return groupCpuNs(cgroups) ?? hostBusyNs();
}

/**
 * File pages nobody has touched of late (v1 total_inactive_file, v2 inactive_file): the kernel
 * drops them before it runs short, so they are free memory in all but name. Left counted, the
 * cache of images and output files a node wrote would make it look full, and freeze its programs.
 */
function inactiveFileBytes(dir: string): number {
  try {
    const stat = readFileSync(join(dir, 'memory.stat'), 'utf8');
    // v1 counts the node's whole subtree under total_ (its usage does too); v2's figures always do
    const m = /^total_inactive_file (\d+)$/m.exec(stat) ?? /^inactive_file (\d+)$/m.exec(stat);
    return Number(m?.[1] ?? 0);
  } catch (err) {
    passOver(err, ['ENOENT']); // a group without a memory controller
    return 0;
  }
}

function memory(cgroups: readonly string[], limit: number | undefined): { total: number; free: number } {
  for (const dir of cgroups) {
    const used = readNumber(join(dir, 'memory.usage_in_bytes')) ?? readNumber(join(dir, 'memory.current'));
    if (used === null) continue;
    const total = limit ?? totalmem();
    return { total, free: Math.max(0, total - (used - inactiveFileBytes(dir))) };
  }
  return { total: totalmem(), free: freemem() };
}

export function createLoadMeter(opts: { cgroups: readonly string[]; cpuCapacity?: number; memLimitBytes?: number }) {
  let last = { at: Date.now(), cpuNs: cpuTimeNs(opts.cgroups) };
  return (running: number): NodeLoad => {
    const now = { at: Date.now(), cpuNs: cpuTimeNs(opts.cgroups) };
    const elapsedNs = Math.max(1, (now.at - last.at) * 1e6);
    const cpuUsed = Math.max(0, (now.cpuNs - last.cpuNs) / elapsedNs);
    last = now;
    const mem = memory(opts.cgroups, opts.memLimitBytes);
    return {
      at: now.at,
      cpuCapacity: opts.cpuCapacity ?? cpus().length,
      cpuUsed: Math.round(cpuUsed * 100) / 100,
      memTotalBytes: mem.total,
      memFreeBytes: mem.free,
      running,
    };
  };
}
