/**
 * The orchestrator killed at any moment loses no process and no record: after a restart the same
 * processes are listed, their output goes on, and they can still be migrated.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import type { Migration, Process } from '@godwit/schemas';
import { api, cli, cluster, crashAndRestart, eventually, migrations, mosrun, numbersIn, oneTo, processInfo, program, REPO, type Harness } from './harness.js';

const restartOrchestrator = (h: Harness) => crashAndRestart(h, 'orchestrator');

describe('orchestrator crash and restart', function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  it('lists the same processes afterwards, keeps their output whole, and migrates them', async function () {
    this.timeout(240_000);
    const a = mosrun(h, [program('counter'), '120']);
    const b = mosrun(h, ['-r', 'node1', program('counter'), '120']);
    const [ida, idb] = [await a.id(), await b.id()];
    await a.waitFor(/^3$/m);
    await b.waitFor(/^3$/m);
    const before = ((await api<Process[]>(h, 'GET', '/v1/processes')).body).filter((p) => p.id === ida || p.id === idb);

    await restartOrchestrator(h);

    const after = ((await api<Process[]>(h, 'GET', '/v1/processes')).body).filter((p) => p.id === ida || p.id === idb);
    expect(after.map((p) => [p.id, p.node, p.state, p.origPid])).to.deep.equal(before.map((p) => [p.id, p.node, p.state, p.origPid]));
    const ps = await cli(h, 'mosps', ['--json']);
    expect(ps.exitCode, ps.stderr).to.equal(0);
    const mig = await cli(h, 'mosmigrate', [String(ida), 'node2']);
    expect(mig.exitCode, mig.stderr).to.equal(0);
    expect((await processInfo(h, ida)).node).to.equal('node2');

    for (const run of [a, b]) {
      const result = await run.child;
      expect(result.exitCode, run.stderr()).to.equal(0);
      const numbers = numbersIn(run.stdout());
      expect(numbers, 'mosrun reconnected and saw every line exactly once').to.deep.equal(oneTo(120));
    }
  });

  it('finishes or rolls back a migration it was killed in the middle of', async function () {
    this.timeout(300_000);
    const run = mosrun(h, [join(REPO, 'bench', 'bin', 'memhog'), '512', '120']);
    const id = await run.id();
    const ready = (await run.waitFor(/ready (\w+)/, 120_000))[1];
    const pending = api<Migration>(h, 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' }).catch(() => undefined);
    // auto moves 512 MiB lazily: the orchestrator may be killed up to the memory's last page
    const seen: string[] = [];
    await eventually(async () => {
      const state = (await migrations(h, id)).at(-1)?.state;
      if (state && seen.at(-1) !== state) seen.push(state);
      return state && ['dumping', 'dumped', 'transferring', 'transferred', 'restoring', 'transferring-memory'].includes(state) ? true : undefined;
    }, () => `the migration to be under way; states seen: ${seen.join(', ') || 'none'}`, 60_000);
    await restartOrchestrator(h);
    await pending;

    const mig = await eventually(async () => {
      const m = (await migrations(h, id)).at(-1);
      return m && (m.state === 'done' || m.state === 'failed') ? m : undefined;
    }, 'the interrupted migration to be finished or rolled back', 120_000);
    const proc = await processInfo(h, id);
    expect(proc.state).to.equal('running');
    expect(proc.node).to.equal(mig.state === 'done' ? 'node1' : 'node0');
    // exactly one live copy: the agents list it running on one node only
    const beats = (run.stdout().match(/beat \d+/g) ?? []).length;
    await run.waitFor(new RegExp(`beat ${beats + 3}\\b`), 60_000);
    const again = await cli(h, 'mosmigrate', [String(id), 'node2']);
    expect(again.exitCode, again.stderr).to.equal(0);
    await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGTERM' });
    await run.child;
    const beatLines = run.stdout().split('\n').filter((l) => l.startsWith('beat')).map((l) => Number(l.split(' ')[1]));
    expect(beatLines, 'no beat lost or repeated').to.deep.equal(oneTo(beatLines.length));
    expect(ready).to.match(/^[0-9a-f]{16}$/);
  });
});
