/**
 * What running programs as their owners costs: the local cluster's first user maps to root (its
 * programs get no_new_privs but keep root's credentials), its guest to the unprivileged account
 * godwit-guest (the keeper sets its groups, gid and uid and empties the capability sets before the
 * exec). In one run on one cluster, alternating the two users: the time from the API's
 * POST /v1/processes to its 201 answer for `true` and for a counter (test/programs/counter), each
 * waited for until it exits; a whole `mosrun true` (process start to exit); and a memhog program
 * moved node0 -> node1 -> node0, full and lazy, with its stopped time and total time (for a lazy
 * move, until the source holds nothing). `true` often ends before the agent sees tini's child, for
 * which it then waits up to 2 s (settlePid, agent/src/lifecycle.ts): its launch time is either
 * about that of the counter or 2 s longer, and the counter's is the one that shows the switch.
 *
 *   npm run bench:owners -- [--runs 5] [--mib 64] [--strategy full,lazy] [--id 56]
 *   (BENCH_STEPS=1 prints each migration's steps with the ms each took, to stderr)
 */
import { execa } from 'execa';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Migration, Process } from '@godwit/schemas';
import { REPO, deadline, openBenchCluster, warmMemory, type BenchCluster } from './bench-cluster.js';
import { markdownTable, median, spread } from './table.js';

const COUNTER = join(REPO, 'test', 'programs', 'counter');
const MOSRUN = join(REPO, 'cli', 'dist', 'bin', 'mosrun.js');

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    mib: { type: 'string', default: '64' },
    strategy: { type: 'string', default: 'full,lazy' },
    id: { type: 'string', default: '56' },
  },
});
const runs = Number(values.runs);
const mib = Number(values.mib);
const strategies = values.strategy.split(',') as ('full' | 'lazy')[];

interface Owner {
  label: string;
  token: string;
  configPath: string;
}

/** each figure's samples, by owner label */
type Figures = Map<string, Map<string, number[]>>;

function record(figures: Figures, figure: string, owner: Owner, x: number): void {
  const byOwner = figures.get(figure) ?? new Map<string, number[]>();
  figures.set(figure, byOwner);
  byOwner.set(owner.label, [...(byOwner.get(owner.label) ?? []), x]);
}

const ms = (t0: number) => Math.round((performance.now() - t0) * 10) / 10;

async function launch(c: BenchCluster, owner: Owner, argv: string[]): Promise<number> {
  const t0 = performance.now();
  const p = await c.call<Process>('POST', '/v1/processes', { argv, cwd: '/tmp', node: c.src.name }, owner.token);
  const took = ms(t0);
  // not timed: the next launch starts on a node with nothing else running
  await deadline(`process ${p.id} (${argv.join(' ')}) to exit`, async () =>
    (await c.call<Process>('GET', `/v1/processes/${p.id}`, undefined, owner.token)).state === 'exited' ? true : undefined);
  return took;
}

async function mosrunTrue(owner: Owner): Promise<number> {
  const t0 = performance.now();
  const r = await execa('node', [MOSRUN, 'true'], { env: { ...process.env, GODWIT_CONFIG: owner.configPath }, cwd: '/tmp', reject: false });
  const took = ms(t0);
  if (r.exitCode !== 0) throw new Error(`mosrun true as ${owner.label} exited ${r.exitCode}: ${r.stderr}`);
  return took;
}

async function move(c: BenchCluster, id: number, to: string, strategy: 'full' | 'lazy', owner: Owner): Promise<Migration> {
  // what a move holds at most at once: the program, its images and its restored copy (see warmMemory)
  await warmMemory(3 * mib);
  const m = await c.call<Migration>('POST', `/v1/processes/${id}/migrate`, { to, strategy }, owner.token);
  if (process.env.BENCH_STEPS) process.stderr.write(`${owner.label} ${strategy} -> ${to}: ${m.steps.map((s, i) => `${s.state} +${i ? s.at - m.steps[i - 1]!.at : 0}`).join(', ')}\n`);
  return m;
}

async function main(): Promise<void> {
  const c = await openBenchCluster(Number(values.id), 1024);
  const { info } = c;
  const owners: Owner[] = [
    { label: 'root', token: info.client.token, configPath: info.clientConfigPath },
    { label: `guest (${info.guestAccount.name})`, token: info.guest.token, configPath: info.guestConfigPath },
  ];
  // each in turn goes first: the first of a round runs right after the last one's clean-up
  const inTurn = (i: number) => (i % 2 ? [...owners].reverse() : owners);
  const figures: Figures = new Map();
  try {
    const launches = async (owner: Owner, into?: Figures) => {
      const t = await launch(c, owner, ['true']);
      const n = await launch(c, owner, [COUNTER, '2']);
      const m = await mosrunTrue(owner);
      if (!into) return;
      record(into, 'launch `true`: POST to 201, ms', owner, t);
      record(into, 'launch counter: POST to 201, ms', owner, n);
      record(into, '`mosrun true`: start to exit, ms', owner, m);
    };
    // not measured: the first launches after the agents start pay for compiling their code
    for (const owner of owners) await launches(owner);
    for (let i = 0; i < runs; i++) for (const owner of inTurn(i)) await launches(owner, figures);
    process.stderr.write('bench: launches done\n');

    for (const strategy of strategies) {
      const programs = new Map<Owner, number>();
      for (const owner of owners) programs.set(owner, (await c.start(mib, owner.token)).id);
      const roundTrip = async (owner: Owner, into?: Figures) => {
        for (const to of [c.dst.name, c.src.name]) {
          const m = await move(c, programs.get(owner)!, to, strategy, owner);
          if (!into) continue;
          record(into, `${strategy} move: stopped ms`, owner, m.stoppedMs!);
          record(into, `${strategy} move: total ms`, owner, strategy === 'lazy' ? m.sourceReleasedAt! - m.startedAt : m.totalMs!);
        }
      };
      try {
        // not measured, as above: the first moves of each kind
        for (const owner of owners) await roundTrip(owner);
        for (let i = 0; i < runs; i++) for (const owner of inTurn(i)) await roundTrip(owner, figures);
      } finally {
        for (const id of programs.values()) await c.stop(id);
      }
      process.stderr.write(`bench: ${strategy} moves done\n`);
    }
  } finally {
    await c.close();
  }
  const [root, guest] = owners.map((o) => o.label) as [string, string];
  const rows = [...figures].map(([figure, byOwner]) => {
    const [r, g] = [byOwner.get(root)!, byOwner.get(guest)!];
    return [figure, spread(r), spread(g), (median(g) / median(r)).toFixed(2)];
  });
  process.stdout.write(
    `Programs as their owners: launches and ${mib} MiB memhog moves node0 -> node1 -> node0, root and guest alternating; ` +
      `median (min-max) of ${runs} launches and ${2 * runs} moves (${runs} each way) each; ` +
      `the machine's load average at the end: ${loadavg()[0]!.toFixed(1)}\n\n` +
      `${markdownTable(['', root, guest, 'guest / root'], rows)}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});
