import { expect } from 'chai';
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GodwitError } from '@godwit/schemas';
import { NOT_OURS, sealing } from '../../../agent/src/at-rest.js';
import type { Criu } from '../../../agent/src/criu.js';
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

/** changes one bit of buf at `at` */
const flip = (buf: Buffer, at: number) => buf.writeUInt8(buf.readUInt8(at) ^ 1, at);

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
    // a stand-in for CRIU, recorded as before start times were kept (PID alone): the agent ends such a PID only when its program is called criu
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
    /** what the test programs hold in memory, as a freeze's pages would */
    const SECRET = 'the program keeps its password here: hunter2-godwit';
    const owner = { processId: 1, epoch: 0, account: 'alice' };
    let src: string;
    beforeEach(() => {
      src = join(dir, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'godwit.json'), JSON.stringify({ processId: 1, epoch: 0, lockTables: ['CRIU-1'] }));
      writeFileSync(join(src, 'pstree.img'), 'tree');
      writeFileSync(join(src, 'core-1.img'), 'core of task 1');
      // larger than one segment, the secret in its second
      writeFileSync(join(src, 'pages-1.img'), Buffer.concat([randomBytes((1 << 20) + 4096), Buffer.from(SECRET), randomBytes(4096)]));
    });

    /** a freeze of process 1 into migration m of store: the images dumped, then kept at rest */
    async function frozen(store: ReturnType<typeof createImageStore>, m: number, encrypt = true, who = owner): Promise<string> {
      const into = await store.fresh(m);
      for (const name of readdirSync(src)) writeFileSync(join(into, name), readFileSync(join(src, name)));
      await store.keepAtRest(m, who, encrypt);
      return join(dir, 'data', 'images', `${m}.frozen`);
    }

    /** every file under root, with its bytes */
    const filesUnder = (root: string): [string, Buffer][] =>
      readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => [join(e.parentPath, e.name), readFileSync(join(e.parentPath, e.name))]);

    it('takes in a stream that verifies, for this run only: after a restart nothing vouches for what came', async () => {
      const data = join(dir, 'data');
      await createImageStore(data, {} as Criu, key).receive(7, await sent(src, key));
      expect(readdirSync(join(data, 'images', '7')).sort()).to.deep.equal(['core-1.img', 'godwit.json', 'pages-1.img', 'pstree.img']);
      const err = await refusal(() => createImageStore(data, {} as Criu, key).thaw(7, owner));
      expect(err.message).to.equal(`the images in ${join(data, 'images', '7')} are not restored: they were received or unpacked before this agent restarted, and nothing vouches for them now`);
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
      }
    });

    it("keeps a freeze's images in one encrypted file, nothing of them in clear, and restores them from it after a restart", async () => {
      const data = join(dir, 'data');
      const file = await frozen(createImageStore(data, {} as Criu, key), 9);
      expect(readdirSync(join(data, 'images')).sort(), 'the file and what it is sealed for, no images directory').to.deep.equal(['9.frozen', '9.frozen.json']);
      for (const [path, bytes] of filesUnder(data)) expect(bytes.includes(SECRET), `${path} holds the program's secret`).to.equal(false);
      expect(JSON.parse(readFileSync(`${file}.json`, 'utf8'))).to.deep.equal({ ...owner, lockTables: ['CRIU-1'] });
      const restarted = createImageStore(data, {} as Criu, key);
      expect(restarted.frozenFor(9)?.lockTables).to.deep.equal(['CRIU-1']);
      await restarted.thaw(9, owner);
      for (const name of readdirSync(src)) expect(readFileSync(join(restarted.dirOf(9), name)).equals(readFileSync(join(src, name))), name).to.equal(true);
      // a restore that failed: they stay frozen, in their file alone
      await restarted.refreeze(9);
      expect(readdirSync(join(data, 'images')).sort()).to.deep.equal(['9.frozen', '9.frozen.json']);
      await restarted.remove(9);
      expect(readdirSync(join(data, 'images'))).to.deep.equal([]);
    });

    it('keeps them in clear with encryptAtRest off, still refusing them once a byte is changed', async () => {
      const store = createImageStore(join(dir, 'data'), {} as Criu, key);
      const file = await frozen(store, 9, false);
      const bytes = readFileSync(file);
      const at = bytes.indexOf(SECRET);
      expect(at, 'the secret is in the file in clear').to.be.above(0);
      flip(bytes, at);
      writeFileSync(file, bytes);
      const err = await refusal(() => createImageStore(join(dir, 'data'), {} as Criu, key).thaw(9, owner));
      expect(err.message).to.equal(`the images in ${file} are not restored: its segment 1 does not verify: it was changed, moved, or put there from another file`);
    });

    it("refuses a frozen file with a byte flipped, another user's or process's put in its place, or restored for another owner, unpacking nothing", async () => {
      const data = join(dir, 'data');
      const store = createImageStore(data, {} as Criu, key);
      const mine = await frozen(store, 9);
      const theirs = await frozen(store, 10, true, { processId: 1, epoch: 0, account: 'bob' });
      const honest = readFileSync(mine);
      const restored = (who = owner) => refusal(() => createImageStore(data, {} as Criu, key).thaw(9, who));
      const flipped = Buffer.from(honest);
      flip(flipped, flipped.length >> 1);
      writeFileSync(mine, flipped);
      expect((await restored()).message).to.match(/^the images in .*9\.frozen are not restored: its segment \d+ does not verify/);
      writeFileSync(mine, honest);
      expect((await restored({ ...owner, account: 'bob' })).message, 'restored as bob').to.include(NOT_OURS);
      expect((await restored({ ...owner, epoch: 1 })).message, 'as another epoch').to.include(NOT_OURS);
      // bob's file and its description copied over alice's
      copyFileSync(theirs, mine);
      copyFileSync(`${theirs}.json`, `${mine}.json`);
      expect((await restored()).message, "bob's file put in alice's place").to.include(NOT_OURS);
      writeFileSync(mine, honest);
      writeFileSync(`${mine}.json`, JSON.stringify({ processId: 1, epoch: 0, account: 'bob', lockTables: [] }));
      expect((await restored({ ...owner, account: 'bob' })).message, 'its description changed to say bob').to.include(NOT_OURS);
      expect(readdirSync(join(data, 'images')).sort(), 'nothing unpacked').to.deep.equal(['10.frozen', '10.frozen.json', '9.frozen', '9.frozen.json']);
    });

    it("refuses images an earlier godwit froze (sealed by godwit.mac, in clear), naming the seal", async () => {
      const data = join(dir, 'data');
      const old = join(data, 'images', '9');
      mkdirSync(old, { recursive: true });
      for (const name of readdirSync(src)) writeFileSync(join(old, name), readFileSync(join(src, name)));
      writeFileSync(join(old, 'godwit.mac'), 'a'.repeat(64));
      const store = createImageStore(data, {} as Criu, key);
      const err = await refusal(() => store.thaw(9, owner));
      expect(err.code).to.equal('GODWIT_ERR_BAD_IMAGES');
      expect(err.message).to.equal(
        `the images in ${old} are not restored: they were frozen by an earlier godwit, which sealed them with ${join(old, 'godwit.mac')} and did not encrypt them; this agent restores only images kept sealed in one file at rest: end the process (SIGKILL) to drop them, or continue it with an agent of that earlier godwit`,
      );
      expect((await refusal(() => store.send(9, 1, { url: 'http://127.0.0.1:1', credential: 'c'.repeat(64) }))).message).to.include('earlier godwit');
    });

    it("sends a freeze's images from their file to another agent, which takes them in; once a byte is changed on disk, nothing reaches it", async function () {
      this.timeout(20_000);
      const store = createImageStore(join(dir, 'data'), {} as Criu, key);
      const file = await frozen(store, 9);
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
        expect((await refusal(() => store.send(9, 2, to))).message, "sent as another process's").to.include(NOT_OURS);
        expect((await refusal(() => store.send(8, 1, to))).code, 'a migration without images here').to.equal('GODWIT_ERR_NOT_FOUND');
        await store.send(9, 1, to);
        expect(readFileSync(join(other.dirOf(9), 'pages-1.img')).equals(readFileSync(join(src, 'pages-1.img')))).to.equal(true);
        await other.remove(9);
        const bytes = readFileSync(file);
        flip(bytes, bytes.length - 100);
        writeFileSync(file, bytes);
        const err = await refusal(() => store.send(9, 1, to));
        expect(err.message).to.match(/^the images in .*9\.frozen are not sent: its segment 1 does not verify/);
        expect(existsSync(other.dirOf(9)), 'nothing reached the destination').to.equal(false);
      } finally {
        server.close();
      }
    });
  });
});
