/**
 * A frozen program's image on its node's disk is one file sealed by the cluster key
 * (agent/src/frozen-images.ts): encrypted, so nothing the program held in memory is on the disk in
 * clear; refused at `continue` once a byte of it is changed, the process staying frozen; and
 * sealed for its migration, process and owner, so another user's image put in its place does not
 * continue as it.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import type { Migration, Process } from '@godwit/schemas';
import { opened } from '../../agent/src/at-rest.js';
import { frozenSeal, type FrozenFor } from '../../agent/src/frozen-images.js';
import { api, asGuest, cli, cluster, eventually, guestDir, mosrun, type Harness } from './harness.js';

/** holds a marker made in its memory (its command line holds only the tag), and says when it is made */
const HOLD = "import sys, time\nsecret = ('GODWIT-FROZEN-' + sys.argv[1]) * 64\nprint('ready', flush=True)\nwhile True:\n    time.sleep(0.1)\n";

describe('frozen images encrypted at rest', function () {
  let h: Harness;
  let images: string;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
    images = join(h.home, 'nodes', 'node0', 'data', 'images');
  });

  /** starts HOLD as `as` and freezes it on node0: its id, its freeze's file at rest, and the marker it holds */
  async function frozenHold(as: Harness, cwd: string) {
    const tag = randomBytes(8).toString('hex');
    const run = mosrun(as, ['python3', '-c', HOLD, tag], { cwd, env: as.env });
    const id = await run.id();
    await run.waitFor(/^ready$/m);
    const frz = await cli(as, 'mosmigrate', [String(id), 'freeze'], { env: as.env });
    expect(frz.exitCode, frz.stderr).to.equal(0);
    const freeze = (await api<Migration[]>(as, 'GET', `/v1/processes/${id}/migrations`)).body.at(-1)!;
    return { id, run, file: join(images, `${freeze.id}.frozen`), migrationId: freeze.id, marker: Buffer.from(`GODWIT-FROZEN-${tag}`) };
  }

  const stateOf = async (as: Harness, id: number) => {
    const p = (await api<Process>(as, 'GET', `/v1/processes/${id}`)).body;
    return [p.state, p.frz, p.pid];
  };

  const kill = async (as: Harness, id: number) => {
    const res = await api(as, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
    expect(res.status, JSON.stringify(res.body)).to.equal(204);
  };

  it("holds nothing of the program's memory in clear while frozen; a byte flipped is refused at continue, here or on node1, it stays frozen, and continues once the byte is back", async function () {
    this.timeout(300_000);
    const { id, run, file, migrationId, marker } = await frozenHold(h, process.cwd());
    expect(readdirSync(images), 'the freeze keeps one file and what it is sealed for, no images in clear').to.include.members([`${migrationId}.frozen`, `${migrationId}.frozen.json`]);
    expect(readdirSync(images), 'no images directory of the freeze').to.not.include(String(migrationId));
    for (const e of readdirSync(images, { recursive: true, withFileTypes: true }).filter((f) => f.isFile())) {
      const path = join(e.parentPath, e.name);
      expect(readFileSync(path).includes(marker), `the marker the program held in memory is in ${path} in clear`).to.equal(false);
    }
    // what the grep would have found: the marker is in the file, sealed for this process and owner
    const key = readFileSync(join(h.home, 'cluster.key'));
    const sealedFor = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as FrozenFor;
    expect(sealedFor.processId).to.equal(id);
    const plain: Buffer[] = [];
    for await (const c of opened(Readable.from([readFileSync(file)]), frozenSeal(key, migrationId, sealedFor), undefined, (why) => new Error(why))) plain.push(c);
    expect(Buffer.concat(plain).includes(marker), 'the marker is in the frozen image once opened with the cluster key').to.equal(true);

    // one byte of it changed where the freeze keeps it (root's doing: the file is root's)
    const honest = readFileSync(file);
    const flipped = Buffer.from(honest);
    const at = flipped.length >> 1;
    flipped.writeUInt8(flipped.readUInt8(at) ^ 0x20, at);
    writeFileSync(file, flipped);
    for (const to of [[], ['node1']]) {
      const cont = await cli(h, 'mosmigrate', [String(id), 'continue', ...to]);
      expect(cont.exitCode, cont.stdout).to.not.equal(0);
      expect(cont.stderr, `continue ${to.join(' ')}`).to.match(new RegExp(`the images in ${file} are not (restored|sent): its segment \\d+ does not verify: it was changed, moved, or put there from another file`));
      expect(cont.stderr).to.match(/it stays frozen/);
      expect(await stateOf(h, id), `after continue ${to.join(' ')}`).to.deep.equal(['frozen', 'M', null]);
      expect(readdirSync(images), `after continue ${to.join(' ')}: nothing of it unpacked in clear`).to.not.include(String(migrationId));
    }
    writeFileSync(file, honest);
    const cont = await cli(h, 'mosmigrate', [String(id), 'continue']);
    expect(cont.exitCode, cont.stderr).to.equal(0);
    expect((await stateOf(h, id))[0]).to.equal('running');
    await kill(h, id);
    await run.child;
    await eventually(async () => (readdirSync(images).some((n) => n.startsWith(`${migrationId}.`) || n === String(migrationId)) ? undefined : true), () => `its images are dropped once it ran on, but ${images} holds ${readdirSync(images).join(', ')}`);
  });

  it("refuses to continue the guest's frozen program from the user's image copied over its own; the guest cannot continue the user's", async function () {
    this.timeout(300_000);
    const guest = asGuest(h);
    const work = guestDir(h, 'godwit-frozen-');
    try {
      const mine = await frozenHold(h, process.cwd());
      const theirs = await frozenHold(guest, work);

      const notTheirs = await cli(guest, 'mosmigrate', [String(mine.id), 'continue'], { env: guest.env });
      expect(notTheirs.exitCode, `the guest continues the user's process: ${notTheirs.stdout}`).to.not.equal(0);
      expect(await stateOf(h, mine.id), "the user's program").to.deep.equal(['frozen', 'M', null]);

      // the user's image (holding the user's memory) and its description put in the guest's place
      const before = [readFileSync(theirs.file), readFileSync(`${theirs.file}.json`)] as const;
      copyFileSync(mine.file, theirs.file);
      copyFileSync(`${mine.file}.json`, `${theirs.file}.json`);
      const swapped = await cli(guest, 'mosmigrate', [String(theirs.id), 'continue'], { env: guest.env });
      expect(swapped.exitCode, swapped.stdout).to.not.equal(0);
      expect(swapped.stderr, swapped.stderr).to.include(`the images in ${theirs.file} are not restored: it was not sealed by this cluster for this place`);
      expect(await stateOf(guest, theirs.id), "the guest's program").to.deep.equal(['frozen', 'M', null]);
      expect(readdirSync(images), 'nothing of it unpacked in clear').to.not.include(String(theirs.migrationId));

      writeFileSync(theirs.file, before[0]);
      writeFileSync(`${theirs.file}.json`, before[1]);
      for (const [as, p] of [[h, mine], [guest, theirs]] as const) {
        const cont = await cli(as, 'mosmigrate', [String(p.id), 'continue'], { env: as.env });
        expect(cont.exitCode, `its own image continues: ${cont.stderr}`).to.equal(0);
        await kill(as, p.id);
        await p.run.child;
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
