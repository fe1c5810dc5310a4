import { expect } from 'chai';
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Criu } from '../../../agent/src/criu.js';
import { createImageStore, packImages } from '../../../agent/src/images.js';
import { LAZY_PAGES_PID } from '../../../agent/src/lazy.js';

describe('image store', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'godwit-images-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('sends godwit.json, then what criu lazy-pages reads first, then the rest by name, and says as each file is in', async () => {
    const src = join(dir, 'src');
    mkdirSync(src);
    for (const name of ['core-1.img', 'pstree.img', 'godwit.json', 'pages-1.img', 'ids-2.img', 'inventory.img', 'fs-1.img']) writeFileSync(join(src, name), name === 'godwit.json' ? '{"processId":1}' : name);
    const seen: string[] = [];
    const store = createImageStore(join(dir, 'data'), {} as Criu);
    await store.receive(7, packImages(src) as unknown as Readable, (name, into) => {
      expect(existsSync(join(into, name)), `${name} is written when told`).to.equal(true);
      seen.push(name);
    });
    expect(seen).to.deep.equal(['godwit.json', 'ids-2.img', 'inventory.img', 'pstree.img', 'core-1.img', 'fs-1.img', 'pages-1.img']);
    expect(existsSync(join(store.dirOf(7), 'pages-1.img'))).to.equal(true);
  });

  it("keeps a lazy move's images under runDir, and any other's under dataDir", async () => {
    const pack = (meta: object) => {
      const src = mkdtempSync(join(dir, 'src-'));
      writeFileSync(join(src, 'godwit.json'), JSON.stringify(meta));
      writeFileSync(join(src, 'pstree.img'), 'tree');
      return packImages(src) as unknown as Readable;
    };
    const [data, run] = [join(dir, 'data'), join(dir, 'run')];
    const store = createImageStore(data, {} as Criu, run);
    await store.receive(7, pack({ processId: 1, lazy: { at: { host: '127.0.0.1', port: 1 }, dumpPid: 1 } }));
    const received = await store.receive(8, pack({ processId: 2 }));
    expect(received, 'the bytes of the images sent').to.equal(JSON.stringify({ processId: 2 }).length + 'tree'.length);
    expect(store.dirOf(7)).to.equal(join(run, 'images', '7'));
    expect(store.dirOf(8)).to.equal(join(data, 'images', '8'));
    expect(readFileSync(join(run, 'images', '7', 'pstree.img'), 'utf8')).to.equal('tree');
    expect(existsSync(join(data, 'images', '7')), 'nothing of the lazy move on disk').to.equal(false);
    expect(store.migrationIds().sort()).to.deep.equal([7, 8]);
    // a dump: a lazy one's directory under runDir, replacing what the migration had anywhere
    expect(await store.fresh(8, true)).to.equal(join(run, 'images', '8'));
    expect(existsSync(join(data, 'images', '8'))).to.equal(false);
    expect(await store.fresh(9)).to.equal(join(data, 'images', '9'));
    await store.remove(7);
    expect(existsSync(join(run, 'images', '7'))).to.equal(false);
  });

  it('ends a lazy-pages daemon started for images that never arrived whole, and drops them', async () => {
    // a stand-in for CRIU: the agent only ends a PID whose program is called criu
    const bin = join(dir, 'criu');
    symlinkSync('/bin/sleep', bin);
    const pager = execa(bin, ['60'], { reject: false, timeout: 20_000 });
    // the agent tells CRIU by its command line: wait until the stand-in runs as it
    const deadline = Date.now() + 10_000;
    while (!readFileSync(`/proc/${pager.pid}/cmdline`, 'utf8').startsWith(bin)) {
      if (Date.now() > deadline) throw new Error(`the stand-in never ran as ${bin}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    // a lazy move's images arrive under runDir
    const partial = join(dir, 'run', 'images', '9.partial');
    mkdirSync(partial, { recursive: true });
    writeFileSync(join(partial, LAZY_PAGES_PID), String(pager.pid));
    createImageStore(join(dir, 'data'), {} as Criu, join(dir, 'run'));
    const ended = await pager;
    expect(ended.signal, `the daemon was killed (it ended ${ended.timedOut ? 'by the test\'s timeout' : `with ${ended.signal ?? ended.exitCode}`})`).to.equal('SIGKILL');
    expect(existsSync(partial)).to.equal(false);
  });
});
