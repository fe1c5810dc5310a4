/**
 * The foundation's promise: a running program moves between nodes while the user keeps talking
 * to it, and nothing it prints is lost or repeated.
 */
import { expect } from 'chai';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Process } from '@godwit/schemas';
import { api, cli, cluster, type Harness, mosrun, numbersIn, oneTo, processInfo, program, scratchDir } from './harness.js';

describe('live migration of a running program', function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  it('moves a counter home -> node1 -> node2 -> home with continuous output', async function () {
    this.timeout(240_000);
    const run = mosrun(h, [program('counter'), '150']);
    const id = await run.id();
    await run.waitFor(/^3$/m);
    const pids: number[] = [];
    const first = await processInfo(h, id);
    expect(first.node, 'a program started with -h runs on its home node').to.equal('node0');
    pids.push(first.pid!);

    let seen = 0;
    for (const [i, to] of [['node1', 'node1'], ['node2', 'node2'], ['home', 'node0']].entries()) {
      // wait for new output between moves, so each move happens mid-run
      seen = Math.max(seen, ...numbersIn(run.stdout()));
      await run.waitFor(new RegExp(`^${seen + 2}$`, 'm'));
      const mig = await cli(h, 'mosmigrate', [String(id), to![0]!]);
      expect(mig.exitCode, `mosmigrate ${id} ${to![0]} failed: ${mig.stderr}`).to.equal(0);
      expect(mig.stdout).to.match(new RegExp(`moved .*to ${to![1]}`));
      const ps = await cli(h, 'mosps', ['--json']);
      const row = (JSON.parse(ps.stdout) as { id: number; node: string; nmigs: number; pid: number }[]).find((p) => p.id === id);
      expect(row, `mosps --json lists process ${id}: ${ps.stdout}`).to.exist;
      expect(row!.node).to.equal(to![1]);
      expect(row!.nmigs).to.equal(i + 1);
      pids.push(row!.pid);
    }
    const table = await cli(h, 'mosps', []);
    expect(table.stdout, 'mosps shows the WHERE and NMIGS columns').to.match(/WHERE/).and.match(/NMIGS/);

    const result = await run.child;
    expect(result.exitCode, `mosrun's exit status; stderr: ${run.stderr()}`).to.equal(0);
    const numbers = numbersIn(run.stdout());
    const expected = oneTo(150);
    expect(numbers, 'every number printed once, in order, across 3 migrations').to.deep.equal(expected);
    expect(run.stdout()).to.match(/result=counted 150/);
    expect(new Set(pids).size, `the host PID changes with each move: ${pids.join(', ')}`).to.equal(4);
  });

  it("moves the guest's program home -> node1 -> home, lazily back, as the guest: its images pass the check of their credentials", async function () {
    this.timeout(180_000);
    const guest = { ...h.env, GODWIT_CONFIG: h.info.guestConfigPath };
    const { uid, gid } = h.info.guestAccount;
    const cwd = scratchDir('godwit-guest-');
    try {
      chownSync(cwd, uid, gid);
      const run = mosrun(h, [program('counter'), '100'], { cwd, env: guest });
      const id = await run.id();
      await run.waitFor(/^3$/m);
      for (const [to, node, how] of [['node1', 'node1', []], ['home', 'node0', ['--strategy', 'lazy']]] as const) {
        const mig = await cli(h, 'mosmigrate', [String(id), to, ...how], { env: guest });
        expect(mig.exitCode, `mosmigrate ${id} ${to} ${how.join(' ')} as the guest: ${mig.stderr}`).to.equal(0);
        const res = await api<Process>(h, 'GET', `/v1/processes/${id}`, undefined, h.info.guest.token);
        expect(res.body.node, JSON.stringify(res.body)).to.equal(node);
        const status = readFileSync(`/proc/${res.body.pid}/status`, 'utf8');
        expect(status, `the restored program runs as ${h.info.guestAccount.name} on ${node}`).to.match(new RegExp(`^Uid:\\t${uid}\\t${uid}\\t${uid}\\t${uid}$`, 'm'));
        expect(status).to.match(new RegExp(`^Gid:\\t${gid}\\t${gid}\\t${gid}\\t${gid}$`, 'm'));
        expect(status, 'and without capabilities').to.match(/^CapEff:\t0+$/m).and.match(/^CapBnd:\t0+$/m);
      }
      const result = await run.child;
      expect(result.exitCode, `mosrun's exit status; stderr: ${run.stderr()}`).to.equal(0);
      expect(numbersIn(run.stdout())).to.deep.equal(oneTo(100));
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('keeps the exit status of a program that exits after being migrated', async function () {
    this.timeout(120_000);
    const run = mosrun(h, [program('exit7'), '4']);
    const id = await run.id();
    await run.waitFor(/tick 2/);
    const mig = await cli(h, 'mosmigrate', [String(id), 'node1']);
    expect(mig.exitCode, mig.stderr).to.equal(0);
    const result = await run.child;
    expect(result.exitCode, `mosrun should exit with the program's status 7; stderr: ${run.stderr()}`).to.equal(7);
    expect(run.stdout()).to.match(/result=exiting with 7/);
  });
});
