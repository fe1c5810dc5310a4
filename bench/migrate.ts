/**
 * Full-copy migration benchmark: godwit moving a program of 64 MiB, 256 MiB and 1 GiB between
 * two nodes of a local cluster, against bare CRIU doing the same steps by hand in the same run,
 * with the same options and the same node limits, two ways: criu dump in the source node, `cp -r`
 * of the images, criu restore in the destination node; and the same with the pages sent during
 * the dump to a CRIU page server in the destination node (what godwit does), so that the copy
 * crosses the nodes' network as it must between real machines. Each measured step starts after
 * warmMemory (bench-cluster.ts) of three times the program's size: at most what one step holds at
 * once (the program, its images, its restored copy). Prints stopped time and total time, and the
 * ratios.
 *
 *   npm run bench -- [--sizes 64,256,1024] [--runs 3] [--id 43]
 *   (BENCH_STEPS=1 prints each godwit migration's steps with the ms each took, to stderr)
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Migration } from '@godwit/schemas';
// memhog holds no TCP socket: as godwit does, its dumps skip the network lock
import { DUMP_LOG, dumpArgs, pageServerArgs } from '../agent/src/criu-args.js';
import { controlMountsOf } from '../agent/src/control-mount.js';
import { IN_NODE, criu, deadline, dirBytes, openBenchCluster, warmMemory } from './bench-cluster.js';
import { markdownTable, median } from './table.js';

const PAGE_SERVER_PORT = 7790;

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '64,256,1024' }, runs: { type: 'string', default: '3' }, id: { type: 'string', default: '43' } },
});
const sizes = values.sizes.split(',').map(Number);
const runs = Number(values.runs);

interface Sample { stoppedMs: number; totalMs: number; bytes: number }

async function main(): Promise<void> {
  const c = await openBenchCluster(Number(values.id), 6144);
  const { src, dst } = c;

  async function viaGodwit(mib: number): Promise<Sample> {
    await warmMemory(3 * mib);
    const p = await c.start(mib);
    const m = await c.call<Migration>('POST', `/v1/processes/${p.id}/migrate`, { to: dst.name, strategy: 'full' });
    await c.stop(p.id);
    if (process.env.BENCH_STEPS) process.stderr.write(`godwit ${mib} MiB: ${m.steps.map((s, i) => `${s.state} +${i ? s.at - m.steps[i - 1]!.at : 0}`).join(', ')}\n`);
    return { stoppedMs: m.stoppedMs!, totalMs: m.totalMs!, bytes: m.bytes! };
  }

  async function bare(mib: number, via: 'cp' | 'page-server'): Promise<Sample> {
    await warmMemory(3 * mib);
    const p = await c.start(mib);
    const proc = await c.agentProc(p.id);
    const controlMounts = controlMountsOf(proc.rootPid);
    const work = mkdtempSync(join(c.home, 'bare-'));
    const [dumpDir, copyDir, keeperDir] = ['dump', 'copy', 'keeper'].map((d) => join(work, d)) as [string, string, string];
    await execa('mkdir', ['-p', dumpDir, keeperDir]);
    let t0: number;
    if (via === 'cp') {
      t0 = Date.now();
      await execa(IN_NODE, [src.netns, '--', criu.path, ...dumpArgs(proc.rootPid, dumpDir, DUMP_LOG, { lockNetwork: false, controlMounts })]);
      await execa('cp', ['-r', dumpDir, copyDir]);
    } else {
      // as godwit does: the page server is up before the program stops
      const at = { host: new URL(dst.url).hostname, port: PAGE_SERVER_PORT };
      await execa('mkdir', ['-p', copyDir]);
      await execa(IN_NODE, [dst.netns, '--', criu.path, ...pageServerArgs(copyDir, at, { daemon: true })]);
      t0 = Date.now();
      await execa(IN_NODE, [src.netns, '--', criu.path, ...dumpArgs(proc.rootPid, dumpDir, DUMP_LOG, { pageServer: at, lockNetwork: false, controlMounts })]);
      await execa('cp', ['-r', `${dumpDir}/.`, copyDir]);
      // the dump left it stopped (the source could resume it): by hand it simply ends
      process.kill(proc.rootPid, 'SIGKILL');
    }
    // The source's agent saw the program end and removes its control directory, where CRIU will
    // mount one again: not timed, as bare CRIU has no agent to wait for
    const paused = Date.now();
    await deadline('the source agent to remove the ended program\'s control directory', async () => (controlMounts.some((d) => existsSync(d)) ? undefined : true), 10_000);
    t0 += Date.now() - paused;
    const rootPid = await c.bareRestore({ imagesDir: copyDir, keeperDir, inodes: proc.inodes, controlMounts });
    const total = Date.now() - t0;
    const bytes = dirBytes(copyDir);
    process.kill(rootPid, 'SIGKILL');
    await c.dropLockTables();
    rmSync(work, { recursive: true, force: true });
    // by hand there is no transfer to overlap: the stopped time is the whole of it
    return { stoppedMs: total, totalMs: total, bytes };
  }

  const rows: string[][] = [];
  try {
    for (const mib of sizes) {
      const g: Sample[] = [];
      const b: Sample[] = [];
      const ps: Sample[] = [];
      for (let i = 0; i < runs; i++) {
        // each in turn goes first: the first of a round runs right after the last one's clean-up
        const steps = [async () => g.push(await viaGodwit(mib)), async () => b.push(await bare(mib, 'cp')), async () => ps.push(await bare(mib, 'page-server'))];
        for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]!();
      }
      const stopped = (xs: Sample[]) => median(xs.map((x) => x.stoppedMs));
      const total = (xs: Sample[]) => median(xs.map((x) => x.totalMs));
      const ratio = (a: number, b2: number) => (a / b2).toFixed(2);
      rows.push([
        `${mib} MiB`, `${(median(g.map((x) => x.bytes)) / 2 ** 20).toFixed(0)} MiB`,
        `${stopped(g)}`, `${stopped(b)}`, ratio(stopped(g), stopped(b)), `${stopped(ps)}`, ratio(stopped(g), stopped(ps)),
        `${total(g)}`, `${total(b)}`, ratio(total(g), total(b)),
      ]);
      process.stderr.write(`bench: ${mib} MiB done\n`);
    }
  } finally {
    await c.close();
  }
  const head = ['program', 'images', 'godwit stopped ms', 'bare CRIU + cp stopped ms', 'ratio', 'bare CRIU + page server stopped ms', 'ratio', 'godwit total ms', 'bare CRIU + cp total ms', 'ratio'];
  process.stdout.write(`Full-copy migration between two nodes, median of ${runs} runs each\n\n${markdownTable(head, rows)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});
