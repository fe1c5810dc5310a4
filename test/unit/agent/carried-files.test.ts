/**
 * Carried files with the real helper (godwit-carry): packed by extent from a held descriptor,
 * written back beneath a node's directory as the owner, never over a file or through a link
 * someone planted, and removed only where they are still the very file.
 */
import { expect } from 'chai';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { GodwitError } from '@godwit/schemas';
import type { Account } from '../../../agent/src/accounts.js';
import { carryConflicts, carryHelperPath, firstLine, type HeldFiles, holdCarried, identityOf, packCarried, packedPlaces, placeCarried, placeOf, releaseHeld, removeCarried, type SentFile, stageStreamed, streamCarried } from '../../../agent/src/carried-files.js';
import type { UsedFile } from '../../../agent/src/tree-files.js';

const HELPER = carryHelperPath(join(import.meta.dirname, '..', '..', '..', 'agent', 'keeper', 'godwit-keeper'));
const MiB = 1 << 20;
const me: Account = { name: userInfo().username, uid: process.getuid!(), gid: process.getgid!(), groups: [process.getgid!()], home: '/' };

describe('carried files', () => {
  let dir: string;
  const local = () => ({ dir: join(dir, 'node0'), paths: ['/tmp', '/var/tmp'] });
  const dest = () => ({ dir: join(dir, 'node1'), paths: ['/tmp', '/var/tmp'] });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-carried-'));
    for (const n of ['node0', 'node1']) for (const p of ['tmp', 'var/tmp']) {
      mkdirSync(join(dir, n, p), { recursive: true });
      chmodSync(join(dir, n, p), 0o1777);
    }
    mkdirSync(join(dir, 'images'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("maps a program's path to the node's directory for it, and carries nothing outside them", () => {
    expect(placeOf(local(), '/var/tmp/db/x')).to.deep.equal({ root: join(dir, 'node0', 'var/tmp'), rel: 'db/x' });
    expect(placeOf(local(), '/tmp'), 'the directory itself: every node has one').to.equal(undefined);
    expect(placeOf(local(), '/var/lib/x'), "in a simulated cluster, the machine's own").to.equal(undefined);
    expect(placeOf(undefined, '/var/lib/x'), 'a real node: the path itself').to.deep.equal({ root: '/', rel: 'var/lib/x' });
  });

  /** a file of the source node's /tmp, held as a program holds it */
  function used(rel: string): UsedFile {
    return { path: `/tmp/${rel}`, kind: 'file', apparentBytes: 0, allocatedBytes: 0, at: join(dir, 'node0', 'tmp', rel) };
  }

  it('packs a sparse file by its extents and puts it back sparse, with its mode and times, then removes the source copy', async () => {
    const src = join(dir, 'node0', 'tmp', 'sparse');
    writeFileSync(src, '');
    truncateSync(src, 64 * MiB);
    writeFileSync(src, 'middle', { flag: 'r+', encoding: 'utf8' });
    chmodSync(src, 0o640);
    utimesSync(src, 1_000_000, 2_000_000);
    const held = holdCarried(local(), [used('sparse')], me);
    const packed = await packCarried(HELPER, held, join(dir, 'images'), 'node0');
    expect(held.files, 'what it packed is returned; the files stay held for the caller').to.have.length(1);
    releaseHeld(held);
    expect(statSync(join(dir, 'images', 'carried-0')).size, 'only the data travels').to.be.below(MiB);
    const placed = await placeCarried(HELPER, dest(), join(dir, 'images'), me, 'node1', join(dir, 'stage'));
    const there = statSync(join(dir, 'node1', 'tmp', 'sparse'));
    expect([there.size, there.mode & 0o7777, there.mtimeMs]).to.deep.equal([64 * MiB, 0o640, 2_000_000_000]);
    expect(there.blocks * 512, 'still sparse').to.be.below(MiB);
    expect(readFileSync(join(dir, 'node1', 'tmp', 'sparse')).subarray(0, 6).toString()).to.equal('middle');
    expect(placed).to.have.length(1);
    expect(await removeCarried(HELPER, me, packedPlaces(packed))).to.deep.equal([]);
    expect(existsSync(src), 'the source copy is gone').to.equal(false);
  });

  it('refuses to write over a file or through a symbolic link planted at the place, names it, and removes what it wrote', async () => {
    for (const f of ['a', 'b']) writeFileSync(join(dir, 'node0', 'tmp', f), f);
    const held = holdCarried(local(), [used('a'), used('b')], me);
    await packCarried(HELPER, held, join(dir, 'images'), 'node0');
    const target = join(dir, 'precious');
    writeFileSync(target, 'precious');
    symlinkSync(target, join(dir, 'node1', 'tmp', 'b'));
    expect(carryConflicts(dest(), [{ path: '/tmp/a', kind: 'file' }, { path: '/tmp/b', kind: 'file' }], 'node1', me.uid)).to.deep.equal(['/tmp/b on node1: a symbolic link is there']);
    const err = await placeCarried(HELPER, dest(), join(dir, 'images'), me, 'node1', join(dir, 'stage')).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(GodwitError);
    expect((err as GodwitError).code).to.equal('GODWIT_ERR_CARRY_CONFLICT');
    expect((err as GodwitError).message).to.include('a different file is already at /tmp/b on node1');
    expect(readFileSync(target, 'utf8'), "the link's target is untouched").to.equal('precious');
    expect(existsSync(join(dir, 'node1', 'tmp', 'a')), 'what it wrote is removed again').to.equal(false);
  });

  it("leaves in place the owner's file already there with the same bytes, mode and size, and refuses one that differs only in its bytes, naming it", async () => {
    const src = join(dir, 'node0', 'tmp', 'same');
    writeFileSync(src, '');
    truncateSync(src, 8 * MiB);
    writeFileSync(src, 'head', { flag: 'r+' });
    writeFileSync(src, 'tail', { flag: 'a' });
    chmodSync(src, 0o640);
    writeFileSync(join(dir, 'node0', 'tmp', 'other'), 'mine!');
    chmodSync(join(dir, 'node0', 'tmp', 'other'), 0o600);
    const held = holdCarried(local(), [used('same'), used('other')], me);
    await packCarried(HELPER, held, join(dir, 'images'), 'node0');
    releaseHeld(held);
    const same = join(dir, 'node1', 'tmp', 'same');
    writeFileSync(same, readFileSync(src));
    chmodSync(same, 0o640);
    const sameIno = statSync(same).ino;
    const other = join(dir, 'node1', 'tmp', 'other');
    writeFileSync(other, 'yours', { mode: 0o600 });
    const places = [{ path: '/tmp/same', kind: 'file' as const, bytes: 8 * MiB + 4, mode: 0o640 }, { path: '/tmp/other', kind: 'file' as const, bytes: 5, mode: 0o600 }];
    expect(carryConflicts(dest(), places, 'node1', me.uid), 'of the same size and mode, both may be the same: placing compares their bytes').to.deep.equal([]);
    expect(carryConflicts(dest(), places, 'node1', me.uid + 1), "another's file is a different one").to.have.length(2);
    expect(carryConflicts(dest(), [{ ...places[0]!, mode: 0o600 }], 'node1', me.uid), 'another mode: a different file').to.deep.equal(['a different file is already at /tmp/same on node1']);
    const err = await placeCarried(HELPER, dest(), join(dir, 'images'), me, 'node1', join(dir, 'stage')).then(() => undefined, (e: unknown) => e);
    expect((err as GodwitError).code, String(err)).to.equal('GODWIT_ERR_CARRY_CONFLICT');
    expect((err as GodwitError).message).to.include('a different file is already at /tmp/other on node1').and.not.to.include('/tmp/same');
    expect(readFileSync(other, 'utf8'), 'the different file is untouched').to.equal('yours');
    expect(statSync(same).ino, 'the same file is left as it was, not removed with what was written').to.equal(sameIno);

    rmSync(other);
    writeFileSync(other, 'mine!', { mode: 0o600 });
    const placed = await placeCarried(HELPER, dest(), join(dir, 'images'), me, 'node1', join(dir, 'stage'));
    expect(placed, 'nothing was written: both were there already').to.deep.equal([]);
    expect(statSync(same).ino).to.equal(sameIno);
  });

  it("makes a carried FIFO anew as the owner with its mode, leaves the owner's FIFO of that mode already there, and removes the source's", async () => {
    const src = join(dir, 'node0', 'tmp', 'pipe');
    execFileSync('mkfifo', ['-m', '640', src]);
    const fifo: UsedFile = { path: '/tmp/pipe', kind: 'fifo', apparentBytes: 0, allocatedBytes: 0, at: src };
    const held = holdCarried(local(), [fifo], me);
    const packed = await packCarried(HELPER, held, join(dir, 'images'), 'node0');
    releaseHeld(held);
    const placed = await placeCarried(HELPER, dest(), join(dir, 'images'), me, 'node1', join(dir, 'stage'));
    const there = lstatSync(join(dir, 'node1', 'tmp', 'pipe'));
    expect([there.isFIFO(), there.mode & 0o7777, placed.length]).to.deep.equal([true, 0o640, 1]);
    expect(carryConflicts(dest(), [{ path: '/tmp/pipe', kind: 'fifo', mode: 0o640 }], 'node1', me.uid), 'the same FIFO').to.deep.equal([]);
    expect(await placeCarried(HELPER, dest(), join(dir, 'images'), me, 'node1', join(dir, 'stage')), 'placed again: left as it is').to.deep.equal([]);
    expect(await removeCarried(HELPER, me, packedPlaces(packed))).to.deep.equal([]);
    expect(existsSync(src), "the source's FIFO is gone").to.equal(false);
  });

  it('leaves alone a file that took the place of the one it packed', async () => {
    const src = join(dir, 'node0', 'tmp', 'a');
    writeFileSync(src, 'packed');
    const held = holdCarried(local(), [used('a')], me);
    const packed = await packCarried(HELPER, held, join(dir, 'images'), 'node0');
    rmSync(src);
    writeFileSync(src, 'another');
    expect(await removeCarried(HELPER, me, packedPlaces(packed))).to.deep.equal([]);
    expect(readFileSync(src, 'utf8')).to.equal('another');
  });

  /** a pre-copy of held into stage, as carry-ahead.ts makes it: streamed by the helper, staged by the helper */
  async function sendAhead(held: HeldFiles, stage: string): Promise<SentFile[]> {
    mkdirSync(stage, { mode: 0o700 });
    const { stream, sent } = streamCarried(HELPER, held, me.name);
    const first = await firstLine(stream, 64 * 1024);
    expect(first?.line, 'the stream names whose files they are first').to.equal(JSON.stringify({ account: me.name }));
    await stageStreamed(HELPER, me, stage, first!.rest);
    return sent;
  }

  it('streams files ahead into a stage (sparse, mode, times), then packs again at the stop only those changed since, and renames the staged ones into place', async () => {
    for (const f of ['same', 'changed']) writeFileSync(join(dir, 'node0', 'tmp', f), `${f} before`);
    const sparse = join(dir, 'node0', 'tmp', 'same');
    truncateSync(sparse, 32 * MiB);
    writeFileSync(sparse, 'end', { flag: 'a' });
    chmodSync(sparse, 0o640);
    utimesSync(sparse, 1_000_000, 2_000_000);
    const stage = join(dir, 'stage');
    const before = holdCarried(local(), [used('same'), used('changed')], me);
    const sent = await sendAhead(before, stage);
    releaseHeld(before);
    expect(sent.map((s) => [s.name, s.before === s.after]), 'each sent whole, unchanged while read').to.deep.equal([['carried-0', true], ['carried-1', true]]);
    const staged = statSync(join(stage, 'carried-0'));
    expect([staged.size, staged.mode & 0o7777, staged.mtimeMs, staged.uid]).to.deep.equal([32 * MiB + 3, 0o640, 2_000_000_000, me.uid]);
    expect(staged.blocks * 512, 'the stage keeps it sparse').to.be.below(MiB);
    writeFileSync(join(dir, 'node0', 'tmp', 'changed'), 'changed after', { flag: 'a' });
    const held = holdCarried(local(), [used('same'), used('changed')], me);
    expect(identityOf(held.files[0]!.fd!), 'an unchanged file shows the identity it was sent with').to.equal(sent[0]!.before);
    const packed = await packCarried(HELPER, held, join(dir, 'images'), 'node0', new Map(sent.map((s) => [s.before, s.name])));
    releaseHeld(held);
    expect(packed.map((p) => [p.file.path, p.file.staged ?? null, p.file.data ?? null])).to.deep.equal([
      ['/tmp/same', 'carried-0', null],
      ['/tmp/changed', null, 'carried-0'],
    ]);
    expect(readFileSync(join(dir, 'images', 'carried-0'), 'utf8'), 'only the changed file is packed again').to.equal('changed beforechanged after');
    expect(existsSync(join(dir, 'images', 'carried-1'))).to.equal(false);
    const placed = await placeCarried(HELPER, dest(), join(dir, 'images'), me, 'node1', stage);
    expect(placed).to.have.length(2);
    const there = readFileSync(join(dir, 'node1', 'tmp', 'same'));
    expect([there.subarray(0, 11).toString(), there.subarray(-3).toString(), there.length]).to.deep.equal(['same before', 'end', 32 * MiB + 3]);
    expect(readFileSync(join(dir, 'node1', 'tmp', 'changed'), 'utf8')).to.equal('changed beforechanged after');
    expect(existsSync(join(stage, 'carried-0')), 'the staged file was renamed into place').to.equal(false);
  });

  it('removes at the source, once moved, a file written after it was held: the one the stop packed', async () => {
    const src = join(dir, 'node0', 'tmp', 'written');
    writeFileSync(src, 'held');
    const held = holdCarried(local(), [used('written')], me);
    // the program writes on until it is stopped: a later clock tick than when it was held
    const was = statSync(src, { bigint: true }).ctimeNs;
    while (statSync(src, { bigint: true }).ctimeNs === was) writeFileSync(src, ' and written', { flag: 'a' });
    const packed = await packCarried(HELPER, held, join(dir, 'images'), 'node0');
    releaseHeld(held);
    expect(await removeCarried(HELPER, me, packedPlaces(packed))).to.deep.equal([]);
    expect(existsSync(src), 'the source copy is gone').to.equal(false);
  });

  it('refuses a stream cut short, naming the file it was writing', async () => {
    writeFileSync(join(dir, 'node0', 'tmp', 'a'), 'x'.repeat(100_000));
    const held = holdCarried(local(), [used('a')], me);
    const stage = join(dir, 'stage');
    mkdirSync(stage, { mode: 0o700 });
    const { stream } = streamCarried(HELPER, held, me.name);
    const first = await firstLine(stream, 64 * 1024);
    async function* cut(): AsyncGenerator<Buffer> {
      let left = 5000;
      for await (const c of first!.rest) {
        if (left <= 0) break;
        yield c.subarray(0, left);
        left -= c.length;
      }
    }
    const err = await stageStreamed(HELPER, me, stage, cut()).then(() => undefined, (e: unknown) => e);
    releaseHeld(held);
    expect((err as GodwitError).code, String(err)).to.equal('GODWIT_ERR_TRANSFER_FAILED');
    expect((err as GodwitError).message).to.match(/could not be staged: file 0: copy/);
  });
});
