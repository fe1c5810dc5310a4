import { expect } from 'chai';
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GodwitError } from '@godwit/schemas';
import { NOT_OURS, sealing } from '../../../agent/src/at-rest.js';
import type { Criu } from '../../../agent/src/criu.js';
import { BROKEN_SEAL, SEAL_FILE, UNSEALED } from '../../../agent/src/image-seal.js';
import { createImageStore } from '../../../agent/src/images.js';
import { packImages } from '../../../agent/src/image-archive.js';
import { transferSeal } from '../../../agent/src/image-transfer.js';
import { LAZY_PAGES_PID } from '../../../agent/src/lazy.js';

/** the stream another agent's send() makes of the images in src for migration 7: packed and sealed */
async function sentBytes(src: string, key: Buffer, migrationId = 7): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packImages(src).pipe(sealing(transferSeal(key, migrationId), false).stream)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
const sent = async (src: string, key: Buffer, migrationId = 7) => Readable.from([await sentBytes(src, key, migrationId)]);

/** the error fn threw, or a failure saying it threw none */
async function refusal(fn: () => Promise<unknown>): Promise<GodwitError> {
  try {
    await fn();
  } catch (err) {
    return err as GodwitError;
  }
  throw new Error('it was not refused');
}

describe('image store', () => {
  const key = randomBytes(32);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'godwit-images-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('sends godwit.json, then what criu lazy-pages reads first, then the rest by name, and says as each file is in', async () => {
    const src = join(dir, 'src');
    mkdirSync(src);
    for (const name of ['core-1.img', 'pstree.img', 'godwit.json', 'pages-1.img', 'ids-2.img', 'inventory.img', 'fs-1.img']) writeFileSync(join(src, name), name === 'godwit.json' ? '{"processId":1}' : name);
    const seen: string[] = [];
    const store = createImageStore(join(dir, 'data'), {} as Criu, key);
    await store.receive(7, await sent(src, key), (name, into) => {
      expect(existsSync(join(into, name)), `${name} is written when told`).to.equal(true);
      seen.push(name);
    });
    expect(seen).to.deep.equal(['godwit.json', 'ids-2.img', 'inventory.img', 'pstree.img', 'core-1.img', 'fs-1.img', 'pages-1.img']);
    expect(existsSync(join(store.dirOf(7), 'pages-1.img'))).to.equal(true);
  });

  it("keeps a lazy move's images under runDir, and any other's under dataDir", async () => {
    const pack = (migrationId: number, meta: object) => {
      const src = mkdtempSync(join(dir, 'src-'));
      writeFileSync(join(src, 'godwit.json'), JSON.stringify(meta));
      writeFileSync(join(src, 'pstree.img'), 'tree');
      return sent(src, key, migrationId);
    };
    const [data, run] = [join(dir, 'data'), join(dir, 'run')];
    const store = createImageStore(data, {} as Criu, key, run);
    await store.receive(7, await pack(7, { processId: 1, lazy: { at: { host: '127.0.0.1', port: 1 }, dumpPid: 1 } }));
    const received = await store.receive(8, await pack(8, { processId: 2 }));
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
    createImageStore(join(dir, 'data'), {} as Criu, key, join(dir, 'run'));
    const ended = await pager;
    expect(ended.signal, `the daemon was killed (it ended ${ended.timedOut ? 'by the test\'s timeout' : `with ${ended.signal ?? ended.exitCode}`})`).to.equal('SIGKILL');
    expect(existsSync(partial)).to.equal(false);
  });

  describe('seals', () => {
    let src: string;
    beforeEach(() => {
      src = join(dir, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'godwit.json'), JSON.stringify({ processId: 1 }));
      writeFileSync(join(src, 'pstree.img'), 'tree');
      writeFileSync(join(src, 'core-1.img'), 'core of task 1');
      // larger than one read: hashed as it streams
      writeFileSync(join(src, 'pages-1.img'), randomBytes((1 << 20) + 4096));
    });

    it('takes in a stream whose seal verifies, seals what came, and restores from it after a restart', async () => {
      const data = join(dir, 'data');
      await createImageStore(data, {} as Criu, key).receive(7, await sent(src, key));
      expect(readdirSync(join(data, 'images', '7')).sort()).to.deep.equal(['core-1.img', 'godwit.json', SEAL_FILE, 'pages-1.img', 'pstree.img']);
      // a new run of the agent knows nothing of what it verified: the seal speaks for them
      const restarted = createImageStore(data, {} as Criu, key);
      await restarted.checkSeal(7);
      writeFileSync(join(data, 'images', '7', 'core-1.img'), 'core of task 2');
      expect((await refusal(() => restarted.checkSeal(7))).message).to.include(BROKEN_SEAL);
    });

    it("refuses a stream with one byte changed, or cut short, or sealed with another key or for another migration, and keeps nothing of it", async () => {
      const honest = await sentBytes(src, key);
      const changed = Buffer.from(honest);
      const at = changed.indexOf('core of task 1');
      changed[at + 13] = '2'.charCodeAt(0);
      const cases: [string, Buffer, string][] = [
        ['one byte of core-1.img changed', changed, 'its segment 0 does not verify'],
        ['its end cut off', honest.subarray(0, honest.length - 40), 'its segment 1 does not verify'],
        ["another cluster's key", await sentBytes(src, randomBytes(32)), NOT_OURS],
        ['the stream of another migration', await sentBytes(src, key, 8), NOT_OURS],
      ];
      const data = join(dir, 'data');
      const store = createImageStore(data, {} as Criu, key);
      for (const [what, bytes, why] of cases) {
        const err = await refusal(() => store.receive(7, Readable.from([bytes])));
        expect(err.code, what).to.equal('GODWIT_ERR_BAD_IMAGES');
        expect(err.message, what).to.include(why);
        expect(existsSync(join(data, 'images')) ? readdirSync(join(data, 'images')) : [], `${what}: nothing of it stays`).to.deep.equal([]);
        await refusal(() => store.checkSeal(7));
      }
    });

    it("seals a freeze's images, refusing them once a file is changed, added or the seal taken away, but not for a restore's log", async () => {
      const store = createImageStore(join(dir, 'data'), {} as Criu, key);
      const frozen = await store.fresh(9);
      for (const name of readdirSync(src)) writeFileSync(join(frozen, name), readFileSync(join(src, name)));
      await store.seal(9);
      writeFileSync(join(frozen, 'restore-1.log'), 'CRIU says');
      await store.checkSeal(9);
      const pages = readFileSync(join(frozen, 'pages-1.img'));
      const last = pages.length - 1;
      pages.writeUInt8(pages.readUInt8(last) ^ 1, last);
      writeFileSync(join(frozen, 'pages-1.img'), pages);
      expect((await refusal(() => store.checkSeal(9))).message).to.equal(`the images in ${frozen} are not restored: ${BROKEN_SEAL}`);
      pages.writeUInt8(pages.readUInt8(last) ^ 1, last);
      writeFileSync(join(frozen, 'pages-1.img'), pages);
      await store.checkSeal(9);
      writeFileSync(join(frozen, 'fs-1.img'), 'added');
      expect((await refusal(() => store.checkSeal(9))).code).to.equal('GODWIT_ERR_BAD_IMAGES');
      unlinkSync(join(frozen, 'fs-1.img'));
      unlinkSync(join(frozen, SEAL_FILE));
      expect((await refusal(() => store.checkSeal(9))).message).to.include(UNSEALED);
    });

    it("sends a freeze's images to another agent, which takes them in; once one is changed on disk, refuses to send them", async function () {
      this.timeout(20_000);
      // a small program's: every file read at once, the refusal comes before the request is sent
      writeFileSync(join(src, 'pages-1.img'), randomBytes(4096));
      const store = createImageStore(join(dir, 'data'), {} as Criu, key);
      const frozen = await store.fresh(9);
      for (const name of readdirSync(src)) writeFileSync(join(frozen, name), readFileSync(join(src, name)));
      await store.seal(9);
      // the destination: another store behind PUT /v1/images/9, answering as the agent's routes do
      const other = createImageStore(join(dir, 'other'), {} as Criu, key);
      const server = createServer((req, res) => {
        other.receive(9, req).then(
          (bytes) => res.end(JSON.stringify({ bytes })),
          (err: GodwitError) => {
            res.statusCode = 422;
            res.end(JSON.stringify(err.toBody()));
          },
        );
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const to = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, credential: 'c'.repeat(64) };
        await store.send(9, to);
        expect(readFileSync(join(other.dirOf(9), 'core-1.img'), 'utf8')).to.equal('core of task 1');
        await other.remove(9);
        writeFileSync(join(frozen, 'core-1.img'), 'core of task 2');
        const err = await refusal(() => store.send(9, to));
        expect(err.message).to.equal(`the images in ${frozen} are not sent: ${BROKEN_SEAL}`);
        expect(existsSync(other.dirOf(9)), 'nothing reached the destination').to.equal(false);
      } finally {
        server.close();
      }
    });

    it('sends sealed images only as they were sealed: a changed file ends the stream before its end', async () => {
      const store = createImageStore(join(dir, 'data'), {} as Criu, key);
      const frozen = await store.fresh(9);
      for (const name of readdirSync(src)) writeFileSync(join(frozen, name), readFileSync(join(src, name)));
      await store.seal(9);
      const seal = readFileSync(join(frozen, SEAL_FILE), 'utf8');
      const fail = (why: string) => new Error(why);
      const drain = async () => {
        for await (const _ of packImages(frozen, { key, recorded: seal, fail })) void _;
      };
      await drain();
      writeFileSync(join(frozen, 'core-1.img'), 'core of task 2');
      expect((await refusal(drain)).message).to.equal(BROKEN_SEAL);
    });
  });
});
