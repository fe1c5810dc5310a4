import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import { removeNetwork } from '../../../cli/src/cluster/network.js';
import { isAlive, pidsInNetns } from '../../../cli/src/cluster/procs.js';

/** A daemon that outlived its agent in a node's namespace (once: a failed move's page server) goes with the namespace. */
describe("cluster down: what is left in a node's network namespace", function () {
  // an id no test cluster uses; recorded, so its name needs no pattern
  const ns = 'godwit-downtest-98';
  let child: ChildProcess | undefined;

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
    execFileSync('ip', ['netns', 'add', ns]);
  });
  after(() => {
    if (child?.pid && isAlive(child.pid)) child.kill('SIGKILL');
    if (execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').some((l) => l.split(' ')[0] === ns)) execFileSync('ip', ['netns', 'delete', ns]);
  });

  it('is killed, and said, before the namespace is deleted', async () => {
    // in no control group of a cluster: only its namespace says whose it is
    child = spawn('ip', ['netns', 'exec', ns, 'sleep', '600'], { stdio: 'ignore' });
    const pid = child.pid!;
    const deadline = Date.now() + 10_000;
    while (!pidsInNetns(`/run/netns/${ns}`).some((p) => p.pid === pid)) {
      if (Date.now() > deadline) throw new Error(`pid ${pid} never showed in ${ns}: ${pidsInNetns(`/run/netns/${ns}`).map((p) => p.pid).join(' ') || 'nothing'} did`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const said: string[] = [];
    await removeNetwork(98, [{ kind: 'netns', name: ns }], async (what, fn) => {
      await fn();
      said.push(what);
    });
    expect(said).to.deep.equal([`processes ${pid} left in network namespace ${ns}`, `network namespace ${ns}`]);
    expect(isAlive(pid), `pid ${pid} after down`).to.equal(false);
  });
});
