/**
 * Lazy migration (post-copy): the program runs again at the destination before its memory has
 * moved; its pages follow on demand and in the background, and every one of them arrives.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Migration, type Node, RUN_MOUNT_SOURCE, parseMountinfo } from '@godwit/schemas';
import { stopComponent } from '../../cli/src/cluster/index.js';
import { homePaths, readState } from '../../cli/src/cluster/state.js';
import { api, asGuest, cli, cluster, crashAndRestart, eventually, guestDir, lockTablesLeft, migrations, mosrun, processInfo, program, restartAndWait, type Harness, type Run } from './harness.js';

const MiB = 1024 * 1024;

/** host PIDs of live processes whose command line (program first) passes `match` */
function pidsWhere(match: (cmd: string[]) => boolean): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((pid) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return cmd.length && match(cmd) && !/^\d+ \(.*\) Z/.test(stat) ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

describe('lazy migration', function () {
  /** the cluster as its guest: the programs run as the unprivileged account, and are moved as it */
  let h: Harness;
  /** where the guest's programs keep their files */
  let scratch: string;
  before(async function () {
    this.timeout(180_000);
    h = asGuest(await cluster());
    scratch = guestDir(h, 'godwit-lazy-');
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  /** a lazy move's images, on the node's runDir tmpfs */
  const imagesOf = (node: string, migrationId: number) => join(h.home, 'nodes', node, 'run', 'images', String(migrationId));

  /** memcheck holding `mib` MiB, and the checksum it printed once its memory was filled */
  async function startMemcheck(mib: number, ...how: 'hidden'[]): Promise<{ run: Run; id: number; sum: string }> {
    const run = mosrun(h, [program('bin/memcheck'), String(mib), ...how], { input: true });
    const id = await run.id();
    const sum = (await run.waitFor(/^ready ([0-9a-f]{16})$/m, 120_000))[1]!;
    return { run, id, sum };
  }

  /** asks the program for the checksum of its memory as it is now, and expects the first one */
  async function expectIntact(run: Run, sum: string, nth: number): Promise<void> {
    run.child.stdin!.write('check\n');
    await eventually(async () => ((run.stdout().match(/^sum [0-9a-f]{16}$/gm) ?? []).length >= nth ? true : undefined), () => `answer ${nth} to "check"; stdout: ${run.stdout()}`, 120_000);
    const sums = run.stdout().match(/^sum ([0-9a-f]{16})$/gm)!;
    expect(sums[nth - 1], `the checksum after the move; stdout: ${run.stdout()}`).to.equal(`sum ${sum}`);
  }

  async function lastMigration(id: number): Promise<Migration> {
    const all = await migrations(h, id);
    return all[all.length - 1]!;
  }

  it('moves 256 MiB home -> node1 -> node2 with under 5% of it copied before it runs again, and every byte arrives', async function () {
    this.timeout(300_000);
    const { run, id, sum } = await startMemcheck(256);
    const pids = [(await processInfo(h, id)).pid];
    const hops: [string, string[]][] = [['node1', ['--strategy', 'lazy']], ['node2', []]];
    for (const [to, how] of hops) {
      const res = await cli(h, 'mosmigrate', [String(id), to, ...how]);
      expect(res.exitCode, `mosmigrate ${id} ${to} ${how.join(' ')}: ${res.stderr}`).to.equal(0);
      expect(res.stdout, 'mosmigrate says how the memory followed').to.match(/moved lazily/).and.match(/on demand/);
      expect(res.stderr, 'mosmigrate shows the steps as they happen (plain lines: not a terminal)').to.match(/: dumping\n/).and.match(/: transferring-memory/).and.match(/: done .*MiB/);
      const m = await lastMigration(id);
      expect(m.strategy, `strategy of migration ${m.id} (${m.strategyReason})`).to.equal('lazy');
      if (how.length === 0) expect(m.strategyReason, 'auto says why it chose lazy').to.match(/^auto: lazy, as [\d.]+ MiB resident/);
      expect(m.state).to.equal('done');
      expect(m.bytesBeforeResume, `bytes before resume of migration ${m.id}: ${JSON.stringify(m)}`).to.be.a('number').below(0.05 * 256 * MiB);
      expect(m.onDemandBytes! + m.backgroundBytes!, `memory that followed: ${JSON.stringify(m)}`).to.be.at.least(256 * MiB);
      expect(m.totalBytes).to.equal(m.bytesBeforeResume! + m.onDemandBytes! + m.backgroundBytes!);
      expect(m.stoppedMs, 'a stopped time is recorded').to.be.a('number');
      expect(m.sourceReleasedAt, 'when the source let go of the last page').to.be.a('number');
      expect(m.memoryArrivedAt, 'when the last page was in, before the source let go of it').to.be.a('number').at.most(m.sourceReleasedAt!);
      const p = await processInfo(h, id);
      expect(p.node).to.equal(to);
      expect(p.lastStoppedMs).to.equal(m.stoppedMs);
      expect(pids, 'a new host PID on each node').to.not.include(p.pid);
      pids.push(p.pid);
      // the agents' tmpfs, where the images of moves under way are, is none of the program's business
      const seen = parseMountinfo(readFileSync(`/proc/${p.pid}/mountinfo`, 'utf8')).filter((x) => x.source === RUN_MOUNT_SOURCE);
      expect(seen.map((x) => x.point), "the agents' runDir mounts the program sees").to.deep.equal([]);
      // nothing of it is left where it was
      await eventually(async () => (existsSync(imagesOf(m.from, m.id)) || existsSync(imagesOf(m.to, m.id)) ? undefined : true), `the images of migration ${m.id} to be removed from ${m.from} and ${m.to}`);
    }
    await expectIntact(run, sum, 1);
    run.child.stdin!.end();
    const result = await run.child;
    expect(result.exitCode, `memcheck's exit; stdout: ${run.stdout()}`).to.equal(0);
    expect(run.stdout()).to.match(/^intact$/m);
    expect(await lockTablesLeft(h)).to.deep.equal([]);
  });

  it('moves 256 MiB home -> node1 -> node2 with pre-copy where the kernel tracks dirty memory, every byte intact', async function () {
    this.timeout(300_000);
    const nodes = (await api<Node[]>(h, 'GET', '/v1/nodes')).body;
    const without = nodes.filter((n) => !n.features?.dirtyTracking).map((n) => n.name);
    if (without.length) {
      // said, not passed: pre-copy rounds need the kernel's soft-dirty bits
      process.stdout.write(`      skipped: pre-copy needs memory dirty tracking, which the kernel of ${without.join(', ')} lacks (\`criu check --feature mem_dirty_track\` fails there)\n`);
      this.skip();
    }
    const { run, id, sum } = await startMemcheck(256);
    for (const to of ['node1', 'node2']) {
      const res = await cli(h, 'mosmigrate', [String(id), to, '--strategy', 'precopy']);
      expect(res.exitCode, `mosmigrate ${id} ${to} --strategy precopy: ${res.stderr}`).to.equal(0);
      const m = await lastMigration(id);
      expect(m).to.include({ strategy: 'precopy', state: 'done' });
      expect((await processInfo(h, id)).node).to.equal(to);
    }
    await expectIntact(run, sum, 1);
    run.child.stdin!.end();
    expect((await run.child).exitCode, `memcheck's exit; stdout: ${run.stdout()}`).to.equal(0);
  });

  it('moves memory the program cannot read itself (PROT_NONE) lazily, every page intact', async function () {
    this.timeout(180_000);
    const { run, id, sum } = await startMemcheck(64, 'hidden');
    const res = await cli(h, 'mosmigrate', [String(id), 'node1', '--strategy', 'lazy']);
    expect(res.exitCode, `mosmigrate ${id} node1 --strategy lazy: ${res.stderr}`).to.equal(0);
    const m = await lastMigration(id);
    expect(m.state).to.equal('done');
    // the page server read them from the stopped program, not the dump before it resumed
    expect(m.onDemandBytes! + m.backgroundBytes!, `memory that followed: ${JSON.stringify(m)}`).to.be.at.least(64 * MiB);
    await expectIntact(run, sum, 1);
    run.child.stdin!.end();
    const result = await run.child;
    expect(result.exitCode, `memcheck's exit; stdout: ${run.stdout()}`).to.equal(0);
    expect(run.stdout()).to.match(/^intact$/m);
  });

  it('refuses to move a program again while its memory is still arriving, and it ends up whole', async function () {
    this.timeout(300_000);
    const { run, id, sum } = await startMemcheck(1024);
    const first = api<Migration>(h, 'POST', `/v1/processes/${id}/migrate`, { to: 'node1', strategy: 'lazy' });
    const seen: string[] = [];
    await eventually(async () => {
      const m = (await migrations(h, id)).at(-1);
      if (m && seen.at(-1) !== m.state) seen.push(m.state);
      return m?.state === 'transferring-memory' || m?.state === 'done' ? true : undefined;
    }, () => `the memory to be on its way; states seen: ${seen.join(', ')}`, 120_000);
    expect(seen.at(-1), `1 GiB takes seconds to follow; states seen: ${seen.join(', ')}`).to.equal('transferring-memory');
    const again = await api<{ code: string; message: string }>(h, 'POST', `/v1/processes/${id}/migrate`, { to: 'node2', strategy: 'lazy' });
    expect(again.status, `a second move while the memory follows: ${JSON.stringify(again.body)}`).to.equal(409);
    expect(again.body.message).to.match(/is migrating already \(it runs on node1, and its memory is still arriving there from node0\)/);
    const done = await first;
    expect(done.status, JSON.stringify(done.body)).to.equal(200);
    expect(done.body.state).to.equal('done');
    await expectIntact(run, sum, 1);
    run.child.stdin!.end();
    expect((await run.child).exitCode, `memcheck's exit; stdout: ${run.stdout()}`).to.equal(0);
  });

  it('refuses to move a program holding a file lock lazily, before anything stops, and it runs on', async function () {
    this.timeout(120_000);
    const lockFile = join(scratch, 'lazy.lock');
    const run = mosrun(h, ['flock', lockFile, 'sh', '-c', 'i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo $i; sleep 0.1; done'], { input: false });
    const id = await run.id();
    await run.waitFor(/^3$/m);
    const res = await cli(h, 'mosmigrate', [String(id), 'node1', '--strategy', 'lazy']);
    expect(res.exitCode).to.not.equal(0);
    expect(res.stderr, 'the refusal says what is in the way').to.match(/lazy migration cannot be used/).and.match(/holds a lock on .*lazy\.lock/).and.match(/not stopped/);
    const p = await processInfo(h, id);
    expect(p.node).to.equal('node0');
    expect(p.state).to.equal('running');
    // auto copies it whole instead, and says why
    const auto = await cli(h, 'mosmigrate', [String(id), 'node1']);
    expect(auto.exitCode, auto.stderr).to.equal(0);
    expect((await lastMigration(id)).strategyReason).to.match(/^auto: full copy/);
    await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGTERM' });
    await run.child;
  });

  it('lets the program run on at the source, intact, when the destination agent dies before the restore is over', async function () {
    this.timeout(300_000);
    const { run, id, sum } = await startMemcheck(512);
    // node1's CRIU checks node0's CPU once (a dry run asks it), so that the move asks node1's
    // agent nothing before the program stops
    const why = await api<{ reasons: string[] }>(h, 'GET', `/v1/processes/${id}/why?to=node1`);
    expect([why.status, why.body.reasons], JSON.stringify(why.body)).to.deep.equal([200, []]);
    // node1's agent is held stopped, so that the move waits there for it: the whole stop takes
    // less than a look at the migration every 100 ms could catch
    const agent1 = readState(homePaths(h.home).state)!.components.find((c) => c.role === 'agent' && c.name === 'node1')!.pid;
    process.kill(agent1, 'SIGSTOP');
    let pending;
    const seen: string[] = [];
    try {
      pending = api<Migration | { code: string; message: string }>(h, 'POST', `/v1/processes/${id}/migrate`, { to: 'node1', strategy: 'lazy' });
      await eventually(async () => {
        const m = (await migrations(h, id)).at(-1);
        if (m && seen.at(-1) !== m.state) seen.push(m.state);
        return m?.state === 'transferring' ? true : undefined;
      }, () => `the migration to send its images to node1; states seen: ${seen.join(', ')}`, 120_000);
    } finally {
      await stopComponent({ home: h.home, name: 'node1', signal: 'SIGKILL' });
    }
    try {
      const res = await pending;
      expect(res.status, `the migration's answer after node1's agent was killed (states seen: ${seen.join(', ')}): ${JSON.stringify(res.body)}`).to.be.at.least(400);
      const m = await lastMigration(id);
      expect(m.state).to.equal('failed');
      const p = await processInfo(h, id);
      expect(p.node).to.equal('node0');
      expect(p.state).to.equal('running');
      await expectIntact(run, sum, 1);
    } finally {
      await restartAndWait(h, 'node1');
    }
    // whatever node1 restored meanwhile does not run on beside it, nor does a daemon left waiting for it
    // (mosrun and tini show the same arguments: the program itself is the one run as memcheck)
    const copies = () => pidsWhere((cmd) => cmd[0]!.endsWith('/memcheck') && cmd[1] === '512');
    await eventually(async () => (copies().length === 1 ? true : undefined), () => `one copy of memcheck 512; found pids ${copies().join(', ')}`, 60_000);
    const node1 = join(h.home, 'nodes', 'node1');
    const pagers = () => pidsWhere((cmd) => cmd[0]!.endsWith('/criu') && cmd[1] === 'lazy-pages' && cmd.some((a) => a.startsWith(node1)));
    await eventually(async () => (pagers().length === 0 ? true : undefined), () => `no lazy-pages daemon of node1 left; found pids ${pagers().join(', ')}`, 30_000);
    run.child.stdin!.end();
    const result = await run.child;
    expect(result.exitCode, `memcheck's exit; stdout: ${run.stdout()}`).to.equal(0);
    expect(await lockTablesLeft(h)).to.deep.equal([]);
  });

  it('finishes the move, every page intact, when the source agent dies while the memory follows', async function () {
    this.timeout(300_000);
    const { run, id, sum } = await startMemcheck(512);
    const moving = cli(h, 'mosmigrate', [String(id), 'node1', '--strategy', 'lazy']);
    let ended: Awaited<typeof moving> | undefined;
    void moving.then((r) => (ended = r));
    const seen: string[] = [];
    await eventually(async () => {
      const m = (await migrations(h, id)).at(-1);
      if (m && seen.at(-1) !== m.state) seen.push(m.state);
      return m && ['restoring', 'transferring-memory', 'done'].includes(m.state) ? true : undefined;
    }, () => `the migration to restore at node1; states seen: ${seen.join(', ')}; mosmigrate ${ended ? `ended with ${ended.exitCode}: ${ended.stderr}` : 'still running'}`, 120_000);
    await crashAndRestart(h, 'node0');
    const res = await moving;
    expect(res.exitCode, `mosmigrate after the source agent was killed (states seen: ${seen.join(', ')}): ${res.stderr}`).to.equal(0);
    const p = await processInfo(h, id);
    expect(p.node).to.equal('node1');
    expect(p.state).to.equal('running');
    await expectIntact(run, sum, 1);
    run.child.stdin!.end();
    const result = await run.child;
    expect(result.exitCode, `memcheck's exit; stdout: ${run.stdout()}`).to.equal(0);
    expect(await lockTablesLeft(h)).to.deep.equal([]);
  });
});
