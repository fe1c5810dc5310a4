/**
 * The programs the openMosix HOWTO discusses, and everyday ones (SQLite, an HTTP server with a
 * client on one TCP connection), each moved twice while it runs and checked for its result.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { programs, resolveArgv } from '../programs/catalog.js';
import { asGuest, cli, cluster, guestDir, lockTablesLeft, mosrun, REPO, type Harness } from './harness.js';

describe('programs that migrate and finish with the right result', function () {
  /** the cluster as its guest: the programs run as the unprivileged account, and are moved as it */
  let h: Harness;
  /** the guest's, as mapshared and sqlite_writer.py write their files there */
  let tmp: string;
  before(async function () {
    this.timeout(180_000);
    h = asGuest(await cluster());
    tmp = guestDir(h, 'godwit-programs-');
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  afterEach(async function () {
    expect(await lockTablesLeft(h), 'CRIU network lock tables left behind after the moves').to.deep.equal([]);
  });

  // selfmigrate.py moves itself: control.test.ts
  for (const p of programs.filter((q) => q.name !== 'counter' && q.name !== 'exit7' && q.name !== 'selfmigrate.py' && !q.input)) {
    it(`${p.name}: ${p.about}`, async function () {
      this.timeout(240_000);
      const run = mosrun(h, resolveArgv(p, REPO, tmp));
      const id = await run.id();
      // moved once it has shown it runs, and again once it has run on the new node
      for (const to of ['node1', 'node2']) {
        const before = run.stdout().length;
        await run.waitFor(new RegExp(`[\\s\\S]{${before + 1},}`), 60_000);
        const mig = await cli(h, 'mosmigrate', [String(id), to]);
        expect(mig.exitCode, `mosmigrate ${id} ${to}: ${mig.stderr}; output so far: ${run.stdout().slice(-500)}`).to.equal(0);
      }
      const result = await run.child;
      const lines = run.stdout().split('\n');
      expect(lines.filter((l) => p.expect.test(l)), `result line ${p.expect} in: ${run.stdout().slice(-800)} / stderr ${run.stderr().slice(-800)}`).to.have.length(1);
      expect(result.exitCode).to.equal(p.exitCode);
    });
  }

  it('stdin_echo: input typed at mosrun reaches the program wherever it runs', async function () {
    this.timeout(120_000);
    const run = mosrun(h, [join(REPO, 'test/programs/stdin_echo')], { input: true });
    const id = await run.id();
    run.child.stdin!.write('alpha\nbeta\n');
    await run.waitFor(/2: BETA/);
    const mig = await cli(h, 'mosmigrate', [String(id), 'node1']);
    expect(mig.exitCode, mig.stderr).to.equal(0);
    run.child.stdin!.write('gamma\ndelta\n');
    await run.waitFor(/4: DELTA/);
    run.child.stdin!.end();
    const result = await run.child;
    expect(run.stdout()).to.match(/^result=lines=4$/m);
    expect(result.exitCode).to.equal(0);
  });

  it('input the program had not read yet, and the end of its input, survive a move', async function () {
    this.timeout(120_000);
    // it reads only after the move: the sleep outlasts mosmigrate's start on a loaded machine
    const script = 'echo ready; sleep 15; n=0; while read -r l; do n=$((n+1)); echo "got $l"; done; echo "result=read $n"';
    // mosrun's own stdin stays open and silent: the input comes through the API, so that it
    // and its end have reached the node before the move
    const run = mosrun(h, ['bash', '-c', script], { input: true });
    const id = await run.id();
    const res = await h.fetch(new URL(`/v1/processes/${id}/stdin?eof=true`, h.info.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/octet-stream' },
      body: 'first\nsecond\n',
    });
    expect(res.status, await res.text()).to.equal(204);
    await run.waitFor(/^ready$/m);
    const mig = await cli(h, 'mosmigrate', [String(id), 'node2']);
    expect(mig.exitCode, mig.stderr).to.equal(0);
    const result = await run.child;
    run.child.stdin!.destroy();
    expect(run.stdout(), 'both lines arrive once, then the end of input').to.match(/got first\ngot second\nresult=read 2/);
    expect(result.exitCode).to.equal(0);
  });
});
