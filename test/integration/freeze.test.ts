/**
 * MOSIX's freeze: `mosmigrate ID freeze` dumps a process to disk and stops it, so it holds no CPU
 * or memory anywhere; `mosmigrate ID continue [NODE]` brings it back, its output unbroken. The
 * freeze outlives a crash of the orchestrator and of the agent that keeps its image.
 */
import { expect } from 'chai';
import { api, cli, cluster, crashAndRestart, migrations, mosrun, numbersIn, oneTo, processInfo, program, standInAt, type Harness } from './harness.js';

describe('freezing a process and bringing it back', function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  it('freezes a counter (nothing of it runs anywhere), keeps it frozen through crashes, and continues it on node1 without a gap', async function () {
    this.timeout(240_000);
    const run = mosrun(h, [program('counter'), '80']);
    const id = await run.id();
    await run.waitFor(/^3$/m);
    const pid = (await processInfo(h, id)).pid!;

    const frz = await cli(h, 'mosmigrate', [String(id), 'freeze']);
    expect(frz.exitCode, frz.stderr).to.equal(0);
    expect(frz.stdout).to.match(new RegExp(`process ${id} is frozen on node0`));
    const frozen = await processInfo(h, id);
    expect([frozen.state, frozen.frz, frozen.pid]).to.deep.equal(['frozen', 'M', null]);
    expect(standInAt(pid), `the program's old host PID ${pid} holds only its stand-in: the program holds no CPU or memory`).to.equal(true);
    const ps = await cli(h, 'mosps', []);
    expect(ps.stdout, ps.stdout).to.match(new RegExp(`^${id}\\s+\\d+\\s+node0\\s+node0\\s+M\\s+0\\s+frozen\\s`, 'm'));

    // the freeze is recorded, and its image kept, across crashes of the orchestrator and of the
    // agent whose disk holds the image
    await crashAndRestart(h, 'orchestrator');
    await crashAndRestart(h, 'node0');
    expect((await processInfo(h, id)).state).to.equal('frozen');
    const why = await cli(h, 'godwit', ['why', String(id)]);
    expect(why.stdout, why.stderr).to.match(/it is frozen \(FRZ M\)/);
    const refused = await cli(h, 'mosmigrate', [String(id), 'node2']);
    expect(refused.exitCode).to.not.equal(0);
    expect(refused.stderr).to.match(/frozen/);

    const cont = await cli(h, 'mosmigrate', [String(id), 'continue', 'node1']);
    expect(cont.exitCode, cont.stderr).to.equal(0);
    const back = await processInfo(h, id);
    expect([back.state, back.node, back.frz]).to.deep.equal(['running', 'node1', '-']);
    expect(back.pid).to.be.a('number').and.not.equal(pid);
    expect((await migrations(h, id)).at(-1)).to.include({ state: 'done', from: 'node0', to: 'node1', strategy: 'freeze' });

    const result = await run.child;
    expect(result.exitCode, run.stderr()).to.equal(0);
    expect(numbersIn(run.stdout()), 'every line once, in order, across the freeze').to.deep.equal(oneTo(80));
  });

  it('ends a frozen process that is sent SIGTERM, and refuses to continue what is not frozen', async function () {
    this.timeout(120_000);
    const run = mosrun(h, [program('counter'), '300']);
    const id = await run.id();
    await run.waitFor(/^2$/m);
    const notFrozen = await cli(h, 'mosmigrate', [String(id), 'continue']);
    expect(notFrozen.exitCode).to.not.equal(0);
    expect(notFrozen.stderr).to.match(/is not frozen/);
    expect((await cli(h, 'mosmigrate', [String(id), 'freeze'])).exitCode).to.equal(0);
    const res = await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGTERM' });
    expect(res.status, JSON.stringify(res.body)).to.equal(204);
    const result = await run.child;
    expect(result.exitCode, `mosrun reports the signal; stderr: ${run.stderr()}`).to.equal(128 + 15);
    const ended = await processInfo(h, id);
    expect([ended.state, ended.exitSignal]).to.deep.equal(['exited', 'SIGTERM']);
  });
});
