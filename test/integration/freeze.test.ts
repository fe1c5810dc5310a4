/**
 * MOSIX's freeze: `mosmigrate ID freeze` dumps a process to disk and stops it, so it holds no CPU
 * or memory anywhere; `mosmigrate ID continue [NODE]` brings it back, its output unbroken. The
 * freeze outlives a crash of the orchestrator and of the agent that keeps its image. A signal sent
 * to a frozen program waits and reaches it as it continues; SIGKILL ends it at once.
 */
import { expect } from 'chai';
import { api, cli, cluster, crashAndRestart, eventually, migrations, mosrun, numbersIn, oneTo, processInfo, program, standInAt, type Harness } from './harness.js';

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

  it('keeps a TERM sent to a frozen program until it continues, when its handler runs; STOPPED is the moves\' stop, the time frozen shown apart; SIGKILL ends a frozen one', async function () {
    this.timeout(180_000);
    const trapping = ['bash', '-c', 'trap "echo caught TERM; exit 3" TERM; for i in $(seq 1 600); do echo $i; sleep 0.1; done'];
    const run = mosrun(h, trapping);
    const id = await run.id();
    await run.waitFor(/^2$/m);
    const notFrozen = await cli(h, 'mosmigrate', [String(id), 'continue']);
    expect(notFrozen.exitCode).to.not.equal(0);
    expect(notFrozen.stderr).to.match(/is not frozen/);
    expect((await cli(h, 'mosmigrate', [String(id), 'freeze'])).exitCode).to.equal(0);
    const frozenAt = Date.now();
    const res = await api<{ queued: boolean; message: string }>(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGTERM' });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body.message).to.equal(`process ${id} is frozen: SIGTERM waits until it continues (\`mosmigrate ${id} continue\`), and reaches it then; SIGKILL ends it now`);
    expect((await processInfo(h, id)).state, 'the TERM waits: it is still frozen').to.equal('frozen');
    // frozen for a while, so that the time frozen cannot pass for the stop of the moves
    await eventually(async () => (Date.now() - frozenAt >= 3000 ? true : undefined), '3 s frozen');

    const cont = await cli(h, 'mosmigrate', [String(id), 'continue']);
    expect(cont.exitCode, cont.stderr).to.equal(0);
    expect(cont.stdout).to.match(new RegExp(`^process ${id} continues on node0 after \\d+\\.\\d s frozen \\(stopped \\d+ ms\\)$`, 'm'));
    const result = await run.child;
    expect(result.exitCode, `the handler's exit status; stderr: ${run.stderr()}`).to.equal(3);
    expect(run.stdout(), 'its handler ran once it continued').to.match(/^caught TERM$/m);
    const after = await processInfo(h, id);
    expect(after.lastFrozenForMs, 'the time frozen, apart').to.be.at.least(3000);
    expect(after.lastStoppedMs, `STOPPED: the freeze's dump and the continue's restore (frozen ${after.lastFrozenForMs} ms)`).to.be.below(3000);
    const ps = await cli(h, 'mosps', ['-f', '--exited']);
    expect(ps.stdout, ps.stdout).to.match(new RegExp(`^${id}\\s.*\\s${after.lastStoppedMs} ms\\s+${(after.lastFrozenForMs! / 1000).toFixed(1)} s\\s+-\\s+bash -c`, 'm')); // ADDRESS: - (no mosrun --ip)

    const killed = mosrun(h, [program('counter'), '300']);
    const kid = await killed.id();
    await killed.waitFor(/^2$/m);
    expect((await cli(h, 'mosmigrate', [String(kid), 'freeze'])).exitCode).to.equal(0);
    const kill = await api(h, 'POST', `/v1/processes/${kid}/signal`, { signal: 'SIGKILL' });
    expect(kill.status, JSON.stringify(kill.body)).to.equal(204);
    expect((await killed.child).exitCode, `mosrun reports the signal; stderr: ${killed.stderr()}`).to.equal(128 + 9);
    const ended = await processInfo(h, kid);
    expect([ended.state, ended.exitSignal]).to.deep.equal(['exited', 'SIGKILL']);
  });
});
