/**
 * Lazy (post-copy) migration benchmark: godwit moving a program of 64 MiB to 4 GiB between two
 * nodes of a local cluster whole and lazily, against bare CRIU lazy migration done by hand in the
 * same run (criu dump --lazy-pages in the source node, `cp` of its images, criu lazy-pages and
 * criu restore --lazy-pages in the destination node), twice: with godwit's CRIU (its patches,
 * its cached kernel probe) and with CRIU as Debian ships its source (bench/stock-criu.sh).
 * Prints, per size: stopped time, bytes copied before the program ran again, the time until the
 * source released the last page, and the background transfer rate (what moved after the resume,
 * over the time until the destination had the last page).
 *
 *   npm run bench:lazy -- [--sizes 64,256,1024,4096] [--runs 5] [--id 43]
 *   (BENCH_STEPS=1 prints each godwit migration's steps with the ms each took, to stderr)
 */
import { execa } from 'execa';
import type { Readable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Migration } from '@godwit/schemas';
// memhog holds no TCP socket: as godwit does, its dumps skip the network lock
import { lazyDumpArgs, lazyPagesArgs, withStatusFd } from '../agent/src/criu-args.js';
import { type Criu, createCriu, statusReady } from '../agent/src/criu.js';
import { controlMountsOf } from '../agent/src/control-mount.js';
import { IN_NODE, REPO, criu, dirBytes, openBenchCluster, warmMemory } from './bench-cluster.js';
import { markdownTable, median } from './table.js';

const LAZY_PORT = 7791;
/** built by `make -C bench bin/criu-stock` (npm run bench:lazy does) */
const stock = createCriu(join(REPO, 'bench', 'bin', 'criu-stock'));

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '64,256,1024,4096' }, runs: { type: 'string', default: '5' }, id: { type: 'string', default: '43' } },
});
const sizes = values.sizes.split(',').map(Number);
const runs = Number(values.runs);

interface Sample {
  stoppedMs: number;
  beforeResumeBytes: number;
  /** from the freeze until the source holds nothing (all memory at the destination) */
  totalMs: number;
  /** memory moved after the program ran again, and how long until the destination had it all */
  followedBytes: number;
  followMs: number;
}

/** a CRIU started by hand with --status-fd 3: resolves once it says it is ready */
async function ready(status: Readable, exited: Promise<unknown>, what: string): Promise<void> {
  if (!(await statusReady(status, exited))) throw new Error(`${what} exited before it was ready`);
}

async function main(): Promise<void> {
  const c = await openBenchCluster(Number(values.id), 6144);
  const { src, dst } = c;

  async function viaGodwit(mib: number, strategy: 'full' | 'lazy'): Promise<Sample> {
    // what the step holds at most at once: the program and its restored copy, and for a full
    // move its images too (see warmMemory)
    await warmMemory((strategy === 'full' ? 3 : 2) * mib);
    const p = await c.start(mib);
    const m = await c.call<Migration>('POST', `/v1/processes/${p.id}/migrate`, { to: dst.name, strategy });
    await c.stop(p.id);
    if (process.env.BENCH_STEPS) process.stderr.write(`godwit ${strategy} ${mib} MiB: ${m.steps.map((s, i) => `${s.state} +${i ? s.at - m.steps[i - 1]!.at : 0}`).join(', ')}\n`);
    const resumedAt = m.steps.find((s) => s.state === 'transferring-memory')?.at;
    // until the destination had the last page: bare CRIU's transfer is timed until its daemons end
    const followMs = resumedAt !== undefined && m.memoryArrivedAt !== null ? m.memoryArrivedAt - resumedAt : 0;
    return {
      stoppedMs: m.stoppedMs!,
      beforeResumeBytes: m.bytesBeforeResume!,
      totalMs: strategy === 'lazy' ? m.sourceReleasedAt! - m.startedAt : m.totalMs!,
      followedBytes: (m.onDemandBytes ?? 0) + (m.backgroundBytes ?? 0),
      followMs,
    };
  }

  async function bareLazy(mib: number, which: Criu): Promise<Sample> {
    await warmMemory(2 * mib);
    const p = await c.start(mib);
    const proc = await c.agentProc(p.id);
    const controlMounts = controlMountsOf(proc.rootPid);
    // on the tmpfs each agent keeps a lazy move's images on, as godwit does
    const work = [mkdtempSync(join(c.runDir(src), 'bare-')), mkdtempSync(join(c.runDir(dst), 'bare-'))];
    const [dumpDir, copyDir, keeperDir] = [join(work[0]!, 'dump'), join(work[1]!, 'copy'), join(work[1]!, 'keeper')];
    await execa('mkdir', ['-p', dumpDir, copyDir, keeperDir]);
    const at = { host: new URL(src.url).hostname, port: LAZY_PORT };
    const withStatus = { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] as const, reject: false };
    // not left stopped: bare CRIU ends the tree once the destination has its pages
    const dump = execa(IN_NODE, [src.netns, '--', which.path, ...withStatusFd(lazyDumpArgs(proc.rootPid, dumpDir, { at, lockNetwork: false, controlMounts }))], withStatus);
    // as godwit counts: from when the dump was started (the program runs until CRIU freezes it)
    const t0 = Date.now();
    await ready(dump.stdio[3], dump, 'the lazy dump');
    await execa('cp', ['-r', `${dumpDir}/.`, copyDir]);
    const beforeResumeBytes = dirBytes(copyDir);
    // without godwit's fault log (-v4), as CRIU runs by default
    const pager = execa(IN_NODE, [dst.netns, '--', which.path, ...withStatusFd(lazyPagesArgs(copyDir, at, { logFaults: false }))], withStatus);
    await ready(pager.stdio[3], pager, 'the lazy-pages daemon');
    const rootPid = await c.bareRestore({ imagesDir: copyDir, keeperDir, inodes: proc.inodes, controlMounts, lazy: true, with: which });
    const resumedAt = Date.now();
    await Promise.all([dump, pager]);
    const doneAt = Date.now();
    process.kill(rootPid, 'SIGKILL');
    await c.dropLockTables();
    for (const w of work) rmSync(w, { recursive: true, force: true });
    return { stoppedMs: resumedAt - t0, beforeResumeBytes, totalMs: doneAt - t0, followedBytes: mib * 2 ** 20, followMs: doneAt - resumedAt };
  }

  const rows: string[][] = [];
  try {
    // not measured: the first migrations after the agents start pay for compiling their code
    // (they stop the program longer than the next ones)
    await viaGodwit(sizes[0]!, 'full');
    await viaGodwit(sizes[0]!, 'lazy');
    await bareLazy(sizes[0]!, criu);
    await bareLazy(sizes[0]!, stock);
    for (const mib of sizes) {
      const samples: Record<'full' | 'lazy' | 'bare' | 'stock', Sample[]> = { full: [], lazy: [], bare: [], stock: [] };
      for (let i = 0; i < runs; i++) {
        // each in turn goes first: the first of a round runs right after the last one's clean-up
        const steps = [
          async () => samples.full.push(await viaGodwit(mib, 'full')),
          async () => samples.lazy.push(await viaGodwit(mib, 'lazy')),
          async () => samples.bare.push(await bareLazy(mib, criu)),
          async () => samples.stock.push(await bareLazy(mib, stock)),
        ];
        for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]!();
      }
      const med = (k: keyof typeof samples, f: (s: Sample) => number) => median(samples[k].map(f));
      const kib = (b: number) => `${Math.round(b / 1024)}`;
      const rate = (k: keyof typeof samples) => {
        const ms = med(k, (s) => s.followMs);
        return ms > 0 ? (med(k, (s) => s.followedBytes) / ms / 1e6).toFixed(2) : '-';
      };
      const stopped = (k: keyof typeof samples) => med(k, (s) => s.stoppedMs);
      rows.push([
        `${mib} MiB`,
        `${stopped('full')}`, `${stopped('lazy')}`, `${stopped('bare')}`, `${stopped('stock')}`,
        (stopped('lazy') / stopped('bare')).toFixed(2), (stopped('lazy') / stopped('stock')).toFixed(2),
        kib(med('lazy', (s) => s.beforeResumeBytes)), kib(med('bare', (s) => s.beforeResumeBytes)),
        `${med('full', (s) => s.totalMs)}`, `${med('lazy', (s) => s.totalMs)}`, `${med('bare', (s) => s.totalMs)}`, `${med('stock', (s) => s.totalMs)}`,
        rate('lazy'), rate('bare'), rate('stock'),
      ]);
      process.stderr.write(`bench: ${mib} MiB done\n`);
    }
  } finally {
    await c.close();
  }
  // bare: CRIU by hand, with godwit's patches; stock: the same steps with CRIU as Debian has it
  const head = [
    'program', 'full stopped ms', 'lazy stopped ms', 'bare lazy stopped ms', 'stock lazy stopped ms', 'lazy / bare', 'lazy / stock',
    'lazy KiB before resume', 'bare KiB before resume', 'full total ms', 'lazy total ms', 'bare lazy total ms', 'stock lazy total ms',
    'lazy background GB/s', 'bare background GB/s', 'stock background GB/s',
  ];
  process.stdout.write(`Full and lazy migration between two nodes, median of ${runs} runs each (total: until the source holds nothing)\n\n${markdownTable(head, rows)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});
