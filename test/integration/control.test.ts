/**
 * The process's own interface: a program controls itself through the files of its control
 * directory ($GODWIT_CONTROL), as a MOSIX program does through /proc/self.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Checkpoint, Event } from '@godwit/schemas';
import { api, cli, cluster, eventually, mosrun, processInfo, program, type Harness } from './harness.js';

const ticks = (out: string) => out.split('\n').flatMap((l) => /^tick (\d+)$/.exec(l)?.[1] ?? []).map(Number);

describe("the process's own control directory", function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  it('lets a program lock itself, declare memory, be refused a move and run on, then move itself there and home, reading where it is', async function () {
    this.timeout(180_000);
    const run = mosrun(h, [program('selfmigrate.py'), 'node1', 'home']);
    const id = await run.id();
    const before = await processInfo(h, id);
    expect(before.node).to.equal('node0');
    await run.waitFor(/^start whereami=node0 nmigs=0 lock=ok 0$/m);

    await run.waitFor(/^lock -> ok 1$/m);
    expect((await processInfo(h, id)).locked, 'lock 1 is mosrun -L').to.equal(true);
    await run.waitFor(/^needmem -> ok 67108864$/m);
    expect((await processInfo(h, id)).needMemBytes, 'needmem 64M').to.equal(64 * 2 ** 20);
    await run.waitFor(/^checkpoint -> ok 1$/m);
    const [taken] = (await api<Checkpoint[]>(h, 'GET', `/v1/processes/${id}/checkpoints`)).body;
    expect([taken?.number, taken?.node, existsSync(taken?.path ?? '')], 'its checkpoint is recorded and on disk').to.deep.equal([1, 'node0', true]);

    const [, refusal] = await run.waitFor(/^refused -> (.*)$/m);
    expect(refusal, 'an unknown node is refused, naming the known ones').to.match(/^error: no node nosuchnode; the nodes are: node0, node1, node2/);
    const stayed = await processInfo(h, id);
    expect([stayed.node, stayed.nmigs, stayed.pid], 'it runs on where it was').to.deep.equal(['node0', 0, before.pid]);
    const afterRefusal = Math.max(...ticks(run.stdout()));
    await run.waitFor(new RegExp(`^tick ${afterRefusal + 2}$`, 'm'));

    await run.waitFor(/^migrate node1 -> ok node1$/m);
    await run.waitFor(/^whereami=node1 nmigs=1$/m);
    const moved = await processInfo(h, id);
    expect([moved.node, moved.nmigs], 'the orchestrator agrees').to.deep.equal(['node1', 1]);
    const ps = await cli(h, 'mosps', ['--json']);
    const row = (JSON.parse(ps.stdout) as { id: number; node: string; nmigs: number; pid: number | null }[]).find((p) => p.id === id);
    expect([row?.node, row?.nmigs], `mosps --json: ${ps.stdout}`).to.deep.equal(['node1', 1]);
    expect(row?.pid, 'a new host PID on node1').to.be.a('number').and.not.equal(before.pid);

    // home: back to the node whose agent watched it before
    await run.waitFor(/^migrate home -> ok node0$/m);
    await run.waitFor(/^whereami=node0 nmigs=2$/m);
    const result = await run.child;
    expect(result.exitCode, `its exit status arrives; stderr: ${run.stderr()}`).to.equal(3);
    const seen = ticks(run.stdout());
    expect(seen, 'every tick once, in order, across both moves').to.deep.equal(Array.from({ length: seen.length }, (_, i) => i + 1));
    expect(run.stdout()).to.match(/^result=at node0 after 2 move\(s\)$/m);
    expect((await processInfo(h, id)).nmigs).to.equal(2);

    const controlDir = join(h.home, 'control', String(id));
    await eventually(async () => (existsSync(controlDir) ? undefined : true), `${controlDir} removed once the process ended`, 10_000);
    const events = await api<Event[]>(h, 'GET', `/v1/events?process=${id}`);
    expect(events.body.filter((e) => e.kind === 'control').map((e) => e.message), 'each request is an event').to.have.length(6);
  });
});
