/**
 * Nodes that share only what they declare: each node's /tmp (and /var/tmp, /run, /var/local) is
 * its own, each program's /dev/shm is its own, and a move puts the program in the destination's.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseMountinfo } from '@godwit/schemas';
import { cli, cluster, type Harness, mosrun, processInfo, program, teardown } from './harness.js';
import { clusterDown } from '../../cli/src/cluster/index.js';

const localDir = (h: Harness, node: string, path: string) => join(h.home, 'nodes', node, 'local', path);

/** where the mount at `point` in pid's view comes from, in its file system (a bind's directory) */
function mountRoot(pid: number, point: string): string | undefined {
  return parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8')).findLast((m) => m.point === point)?.root;
}

describe("each node's own /tmp, and each program's own /dev/shm", function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  it("keeps a program's /tmp file on its node, and gives it the destination's /tmp after a move", async function () {
    this.timeout(180_000);
    const name = `godwit-local-${process.pid}`;
    const run = mosrun(h, ['sh', '-c', `echo mark > /tmp/${name} && echo written && read line && cat /tmp/${name} 2>&1; echo end`], { input: true });
    const id = await run.id();
    await run.waitFor(/^written$/m);
    const before = await processInfo(h, id);
    expect(before.node).to.equal('node0');
    expect(existsSync(`/tmp/${name}`), "the file is not in the machine's /tmp").to.equal(false);
    expect(readFileSync(localDir(h, 'node0', `tmp/${name}`), 'utf8'), "it is in node0's own /tmp").to.equal('mark\n');
    expect(existsSync(localDir(h, 'node1', `tmp/${name}`)), "nor in node1's").to.equal(false);
    expect(mountRoot(before.pid!, '/tmp'), "the program's /tmp is node0's directory").to.equal(localDir(h, 'node0', 'tmp'));

    const mig = await cli(h, 'mosmigrate', [String(id), 'node1']);
    expect(mig.exitCode, `mosmigrate failed: ${mig.stderr}`).to.equal(0);
    const after = await processInfo(h, id);
    expect(after.node).to.equal('node1');
    expect(mountRoot(after.pid!, '/tmp'), "restored on node1, its /tmp is node1's directory, not a bind of node0's").to.equal(localDir(h, 'node1', 'tmp'));
    expect(mountRoot(after.pid!, '/var/local'), 'and so is its local data directory').to.equal(localDir(h, 'node1', 'var/local'));
    run.child.stdin!.write('go\n');
    await run.waitFor(/^end$/m);
    expect(run.stdout(), "on node1, node0's file is not there").to.match(/No such file/);
    expect((await run.child).exitCode, run.stderr()).to.equal(0);
  });

  it("moves two processes sharing a POSIX segment in the program's own /dev/shm, and no other program's files with them", async function () {
    this.timeout(180_000);
    const other = `godwit-other-${process.pid}`;
    const mine = `godwit-pair-${process.pid}`;
    const bystander = mosrun(h, ['sh', '-c', `echo other > /dev/shm/${other} && echo made && read line`], { input: true });
    await bystander.id();
    await bystander.waitFor(/^made$/m);
    const run = mosrun(h, [program('bin/posixshm'), mine, '80']);
    const id = await run.id();
    await run.waitFor(/^tick=5 /m);
    const pid = (await processInfo(h, id)).pid!;
    expect(readdirSync(`/proc/${pid}/root/dev/shm`), 'its /dev/shm holds its own segment only').to.deep.equal([mine]);
    expect(existsSync(`/dev/shm/${mine}`), "the machine's /dev/shm does not have it").to.equal(false);

    const mig = await cli(h, 'mosmigrate', [String(id), 'node1']);
    expect(mig.exitCode, `mosmigrate failed: ${mig.stderr}`).to.equal(0);
    const after = await processInfo(h, id);
    expect(after.node).to.equal('node1');
    expect(readdirSync(`/proc/${after.pid!}/root/dev/shm`), "restored, it has its segment and nothing of the other program's").to.deep.equal([mine]);
    const result = await run.child;
    expect(result.exitCode, `posixshm's exit status; stdout: ${run.stdout().slice(-400)} stderr: ${run.stderr()}`).to.equal(0);
    expect(run.stdout()).to.match(/result=ticks=80 pattern=ok grew=yes/);
    bystander.child.stdin!.write('go\n');
    expect((await bystander.child).exitCode, bystander.stderr()).to.equal(0);
  });

  // last: it takes the suite's cluster down (the next file's first test brings a new one up)
  it('`cluster down` removes every node\'s own directories and leaves no mount behind', async function () {
    this.timeout(180_000);
    const nodesDir = join(h.home, 'nodes');
    expect(existsSync(localDir(h, 'node2', 'tmp')), "node2's /tmp is there while the cluster is up").to.equal(true);
    const report = await clusterDown({ home: h.home, log: () => undefined });
    expect(report.problems, 'cluster down reports no problem').to.deep.equal([]);
    expect(existsSync(nodesDir), `${nodesDir} is gone`).to.equal(false);
    const left = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.point.startsWith(h.home) || m.root.startsWith(h.home));
    expect(left.map((m) => m.point), 'no mount of the cluster is left').to.deep.equal([]);
    await teardown();
  });
});
