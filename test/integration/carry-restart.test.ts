/**
 * Issue 20: the files a move sends ahead to its destination's stage outlive a restart of the
 * destination's agent between the pre-copy and the restore. The agent is killed (by PID, as the
 * harness stops a component) once the stage is complete, and started again: the move completes or
 * rolls back, the program runs on with its file whole, and no stage is left once the move ended.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cli, cluster, crashAndRestart, eventually, type Harness, migrations, mosrun, processInfo } from './harness.js';

const localDir = (h: Harness, node: string, path: string) => join(h.home, 'nodes', node, 'local', path);
const stageRoot = (h: Harness, node: string) => join(h.home, 'nodes', node, 'data', 'carry-staging');

/** python3: 16 MiB of random bytes at argv[1], held open; for each line read, the file's checksum */
const HOLDER = `
import hashlib, os, sys
f = open(sys.argv[1], 'w+b')
h = hashlib.sha256()
for i in range(16):
    b = os.urandom(1 << 20)
    f.write(b)
    h.update(b)
f.flush()
print('wrote', h.hexdigest(), flush=True)
for line in sys.stdin:
    f.seek(0)
    print('read', hashlib.sha256(f.read()).hexdigest(), flush=True)
`;

/** whether the orchestrator logged the files of that migration as carried ahead */
const carriedAhead = (h: Harness, mid: number) =>
  readFileSync(join(h.home, 'logs', 'orchestrator.log'), 'utf8').split('\n').filter((l) => l.includes('carried ahead')).some((l) => (JSON.parse(l) as { migration?: number }).migration === mid);

describe("files sent ahead across a restart of the destination's agent", function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  it('restarted between the pre-copy and the restore: the move ends cleanly, the program runs with its file whole, no stage left', async function () {
    this.timeout(600_000);
    const name = `godwit-restart-${process.pid}`;
    const run = mosrun(h, ['python3', '-c', HOLDER, `/tmp/${name}`], { input: true });
    const id = await run.id();
    const wrote = (await run.waitFor(/^wrote (\w+)$/m, 120_000))[1]!;
    try {
      const moving = cli(h, 'mosmigrate', [String(id), 'node1']);
      const mid = await eventually(async () => (await migrations(h, id)).at(-1)?.id, `process ${id}'s migration to be recorded`);
      await eventually(async () => (carriedAhead(h, mid) ? true : undefined), `migration ${mid}'s files to be carried ahead to node1`, 120_000);
      await crashAndRestart(h, 'node1');
      const moved = await moving;
      const m = (await migrations(h, id)).find((x) => x.id === mid)!;
      const info = await processInfo(h, id);
      // which ending this run saw depends on how soon node1's agent was back (see the README)
      process.stdout.write(`      migration ${mid}: ${m.state}${m.reason ? ` (${m.reason})` : ''}; process ${id} on ${info.node}\n`);
      // either ending is clean: done (the restored agent found the stage), or rolled back at node0
      if (moved.exitCode === 0) expect([m.state, info.node], JSON.stringify(m)).to.deep.equal(['done', 'node1']);
      else expect([m.state, info.node, info.state], `${moved.stderr} ${JSON.stringify(m)}`).to.deep.equal(['failed', 'node0', 'running']);
      run.child.stdin!.write('again\n');
      const read = (await run.waitFor(/^read (\w+)$/m, 60_000))[1];
      expect(read, `the program on ${info.node} re-reads what it wrote`).to.equal(wrote);
      expect(existsSync(localDir(h, info.node, `tmp/${name}`)), `its file in ${info.node}'s /tmp`).to.equal(true);
      for (const node of ['node0', 'node1']) {
        await eventually(async () => (existsSync(stageRoot(h, node)) && readdirSync(stageRoot(h, node)).length > 0 ? undefined : true),
          () => `no stage left on ${node}; there: ${existsSync(stageRoot(h, node)) ? readdirSync(stageRoot(h, node)).join(', ') : 'none'}`);
      }
      run.child.stdin!.end();
      expect((await run.child).exitCode, run.stderr()).to.equal(0);
    } finally {
      for (const node of ['node0', 'node1', 'node2']) rmSync(localDir(h, node, `tmp/${name}`), { force: true });
    }
  });
});
