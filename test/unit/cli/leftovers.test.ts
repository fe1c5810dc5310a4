import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { reclaimLeftDirs } from '../../../cli/src/cluster/leftovers.js';

describe('what a cluster killed before its down leaves outside its home', () => {
  let root: string;
  let control: string;
  let sockets: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'godwit-left-'));
    control = path.join(root, 'control', 'cluster-7');
    sockets = path.join(root, 'sock', 'cluster-7');
    fs.mkdirSync(path.join(control, '12'), { recursive: true });
    fs.mkdirSync(sockets, { recursive: true });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('is removed when no agent answers on its sockets, and says so', async () => {
    // a socket file whose agent is gone: nothing accepts on it
    fs.writeFileSync(path.join(sockets, 'node0.sock'), '');
    const said: string[] = [];
    await reclaimLeftDirs(7, [control, sockets], sockets, (l) => said.push(l));
    expect(fs.existsSync(control), 'control dir').to.equal(false);
    expect(fs.existsSync(sockets), 'socket dir').to.equal(false);
    expect(said.join('\n')).to.contain(`removing ${control}, left by an earlier cluster 7`);
  });

  it('is kept, and the start refused naming the socket, when an agent still answers there', async () => {
    const at = path.join(sockets, 'node1.sock');
    const server = net.createServer((c) => c.destroy());
    await new Promise<void>((resolve) => server.listen(at, resolve));
    try {
      const err = await reclaimLeftDirs(7, [control, sockets], sockets, () => undefined).then(() => null, (e: Error) => e);
      expect(err?.message, 'error').to.contain(`cluster 7 is already up from another home (an agent answers at ${at})`);
      expect(fs.existsSync(path.join(control, '12')), 'control dir kept').to.equal(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
