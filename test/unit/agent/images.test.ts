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
    const partial = join(dir, 'data', 'images', '9.partial');
    mkdirSync(partial, { recursive: true });
    writeFileSync(join(partial, LAZY_PAGES_PID), String(pager.pid));
    createImageStore(join(dir, 'data'), {} as Criu);
    const ended = await pager;
    expect(ended.signal, `the daemon was killed (it ended ${ended.timedOut ? 'by the test\'s timeout' : `with ${ended.signal ?? ended.exitCode}`})`).to.equal('SIGKILL');
    expect(existsSync(partial)).to.equal(false);
  });
});
