/**
 * A node is lost (its agent and its programs killed, as when a machine dies): each of its
 * processes started with --recover-on-failure comes back elsewhere from its latest checkpoint,
 * the others are marked lost with the time of their last checkpoint. A copy still running on
 * the node when its agent comes back is stopped: never two live copies of one process.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Event } from '@godwit/schemas';
import { restartComponent, stopComponent } from '../../cli/src/cluster/index.js';
import { api, cli, cluster, eventually, type Harness, mosrun, numbersIn, processInfo, program, scratchDir } from './harness.js';

const parentOf = (pid: number) => Number(/^PPid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

describe('losing a node', function () {
  let h: Harness;
  const dirs: string[] = [];
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  async function eventsOf(id: number): Promise<string> {
    return (await api<Event[]>(h, 'GET', `/v1/events?process=${id}`)).body.map((e) => `${e.kind}: ${e.message}`).join('\n');
  }

  it('recovers the processes that asked for it from their latest checkpoint elsewhere, marks the others lost, and ends a stale copy when the node comes back', async function () {
    this.timeout(300_000);
    const [da, db] = [scratchDir('godwit-loss-'), scratchDir('godwit-loss-')];
    dirs.push(da, db);
    const a = mosrun(h, ['-r', 'node1', '-C', 'lossA', '-A', '0.03', '--recover-on-failure', program('logcount'), '300'], { cwd: da });
    const b = mosrun(h, ['-r', 'node1', '-C', 'lossB', program('logcount'), '600'], { cwd: db });
    const [ida, idb] = [await a.id(), await b.id()];
    await eventually(async () => ((await processInfo(h, ida)).checkpoints >= 2 ? true : undefined), () => `two checkpoints of process ${ida}`, 60_000);
    expect((await cli(h, 'mosmigrate', [String(idb), 'checkpoint'])).exitCode).to.equal(0);
    const [pa, pb] = [(await processInfo(h, ida)).pid!, (await processInfo(h, idb)).pid!];

    // node1 dies: its agent, and the program of A with it; B's copy survives, cut off
    await stopComponent({ home: h.home, name: 'node1', signal: 'SIGKILL' });
    process.kill(parentOf(pa), 'SIGKILL');

    let seen = '';
    const recovered = await eventually(async () => {
      const p = await processInfo(h, ida);
      seen = `${p.state} on ${p.node}`;
      return p.state === 'running' && p.node !== 'node1' ? p : undefined;
    }, () => `process ${ida} recovered off node1 (it is ${seen})`, 90_000);
    expect(recovered.pid).to.be.a('number').and.not.equal(pa);
    expect(await eventsOf(ida)).to.match(new RegExp(`recovered: process ${ida} was lost with node node1 and recovered on ${recovered.node} as PID ${recovered.pid} from its checkpoint \\d+ \\(.*lossA\\.\\d+`));
    const lost = await eventually(async () => {
      const p = await processInfo(h, idb);
      return p.state === 'lost' ? p : undefined;
    }, `process ${idb} marked lost`, 30_000);
    expect(lost.endedAt).to.be.a('number');
    expect(await eventsOf(idb)).to.match(new RegExp(`lost: process ${idb} is lost with node node1 .*its last checkpoint \\(.*lossB\\.1, 20.*\\) can bring it back: mosrun -R`));
    const ps = await cli(h, 'mosps', []);
    expect(ps.stdout, ps.stdout).to.match(new RegExp(`^${ida}\\s+\\d+\\s+${recovered.node}\\s+node0\\s`, 'm'));

    expect((await a.child).exitCode, a.stderr()).to.equal(0);
    const nums = numbersIn(a.stdout());
    const jump = nums.findIndex((n, i) => i > 0 && n !== nums[i - 1]! + 1);
    const tail = jump === -1 ? nums : nums.slice(jump);
    expect(tail, 'from its checkpoint on, every number once, to the end').to.deep.equal(Array.from({ length: 301 - tail[0]! }, (_, i) => tail[0]! + i));
    expect(a.stdout(), 'it went on from its checkpoint: its log as it was then, grown to 300 lines').to.match(/^result=sum 45150 log-lines 300$/m);
    expect((await b.child).exitCode, 'B was lost: its mosrun fails').to.not.equal(0);

    // node1 comes back with B's copy still running there: it is ended
    expect(existsSync(`/proc/${pb}`), "B's stale copy still runs on node1").to.equal(true);
    await restartComponent({ home: h.home, name: 'node1' });
    await eventually(async () => (existsSync(`/proc/${pb}`) ? undefined : true), `B's stale copy (pid ${pb}) ended once node1 is back`, 60_000);
    expect(await eventsOf(idb)).to.match(/stray-ended: a second copy of process/);
    await eventually(async () => {
      const nodes = await api<{ name: string; state: string }[]>(h, 'GET', '/v1/nodes');
      return nodes.body.every((n) => n.state === 'online') ? true : undefined;
    }, 'every node online again', 60_000);
  });
});
