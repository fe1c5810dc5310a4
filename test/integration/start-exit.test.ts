/**
 * Start and exit as a shell says them: a program that cannot start exits 127 or 126 with one
 * plain line, and is listed by mosps with that reason; a signal death reads killed(SIGX) in
 * mosps and the API, and mosrun exits 128+N; mosrun -v knows the PID of a program that ends at once.
 */
import { expect } from 'chai';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Process } from '@godwit/schemas';
import { api, asGuest, cli, cluster, eventually, guestDir, mosrun, processInfo, program, type Harness } from './harness.js';

describe('start and exit, as a shell says them', function () {
  let root: Harness;
  let guest: Harness;
  /** the guest's: a file without x bits and a directory, which nobody may run */
  let dir: string;
  before(async function () {
    this.timeout(180_000);
    root = await cluster();
    guest = asGuest(root);
    dir = guestDir(guest, 'godwit-start-');
    // root's programs run without capabilities: root too must be let in to find what is there
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'plain.sh'), '#!/bin/sh\necho never\n');
    chmodSync(join(dir, 'plain.sh'), 0o644);
    mkdirSync(join(dir, 'adir'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases = () => [
    { what: 'a missing command', argv: ['godwit-no-such-command'], status: 127, line: 'godwit-no-such-command: command not found on node0' },
    { what: 'a missing path', argv: [join(dir, 'missing')], status: 127, line: `${join(dir, 'missing')}: no such file or directory on node0` },
    { what: 'a file that is not executable', argv: [join(dir, 'plain.sh')], status: 126, line: `${join(dir, 'plain.sh')}: permission denied on node0` },
    { what: 'a directory', argv: [join(dir, 'adir')], status: 126, line: `${join(dir, 'adir')}: is a directory on node0` },
  ];

  for (const as of ['root', 'the guest'] as const) {
    it(`gives ${as} the shell's status and one plain line for each start that fails, and mosps lists it with the reason`, async function () {
      this.timeout(120_000);
      const h = as === 'root' ? root : guest;
      for (const c of cases()) {
        const run = await cli(h, 'mosrun', c.argv);
        expect({ status: run.exitCode, stderr: run.stderr }, c.what).to.deep.equal({ status: c.status, stderr: `godwit: ${c.line}` });
      }
      const listed = (await api<Process[]>(h, 'GET', '/v1/processes')).body;
      for (const c of cases()) {
        const failed = listed.filter((p) => p.argv[0] === c.argv[0]).at(-1);
        expect(failed, `${c.what} in the API's list: ${JSON.stringify(listed.map((p) => [p.id, p.argv[0], p.state]))}`).to.include({
          state: 'failed',
          failure: c.line,
        });
      }
      const ps = await cli(h, 'mosps', ['--exited']);
      expect(ps.exitCode, ps.stderr).to.equal(0);
      const last = listed.filter((p) => p.argv[0] === cases()[0]!.argv[0]).at(-1)!;
      expect(ps.stdout).to.match(new RegExp(`^${last.id}\\s+-\\s+node0\\s+node0\\s+-\\s+0\\s+failed\\s+godwit-no-such-command$`, 'm'));
      expect(ps.stdout).to.contain(`\nprocess ${last.id} failed to start: ${cases()[0]!.line}\n`);
    });
  }

  it('shows a program ended by SIGTERM as killed(SIGTERM) in mosps and the API, and mosrun exits 143', async function () {
    this.timeout(120_000);
    const run = mosrun(guest, [program('counter'), '600']);
    const id = await run.id();
    await run.waitFor(/1\n/);
    // the user's SIGTERM to mosrun, passed on: tini reports the program's death as 143
    run.child.kill('SIGTERM');
    const result = await run.child;
    expect(result.exitCode, `mosrun's status; stderr: ${run.stderr()}`).to.equal(143);
    const p = await processInfo(guest, id);
    expect({ state: p.state, exitCode: p.exitCode, exitSignal: p.exitSignal }).to.deep.equal({ state: 'exited', exitCode: null, exitSignal: 'SIGTERM' });
    const ps = await cli(guest, 'mosps', ['--exited']);
    expect(ps.stdout).to.match(new RegExp(`^${id}\\s.*\\skilled\\(SIGTERM\\)\\s`, 'm'));
  });

  it('knows the PID of a program that ends at once: mosrun -v, mosps and the API agree', async function () {
    this.timeout(60_000);
    const run = mosrun(guest, ['true']);
    const result = await run.child;
    expect(result.exitCode, run.stderr()).to.equal(0);
    const m = /process (\d+) started on node0 \(pid (\d+)\)/.exec(run.stderr());
    expect(m, `mosrun -v's line: ${run.stderr()}`).to.not.equal(null);
    const [id, pid] = [Number(m![1]), Number(m![2])];
    const p = await eventually(async () => {
      const q = await processInfo(guest, id);
      return q.state === 'exited' ? q : undefined;
    }, `process ${id} to be recorded as exited`);
    expect({ origPid: p.origPid, exitCode: p.exitCode }).to.deep.equal({ origPid: pid, exitCode: 0 });
    const ps = await cli(guest, 'mosps', ['--exited']);
    expect(ps.stdout).to.match(new RegExp(`^${id}\\s+${pid}\\s+node0\\s`, 'm'));
  });
});
