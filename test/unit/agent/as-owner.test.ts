/**
 * Files a recovery writes back go through godwit-as-owner as their owner: no symbolic link is
 * followed, no setuid bit survives, nothing the owner could not write is written. Sizes of files
 * now are told as their owner sees them, through no symbolic link. Needs root.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { GodwitError } from '@godwit/schemas';
import { asOwnerPath, copyAsOwner, sizesAsOwner } from '../../../agent/src/as-owner.js';

const HELPER = asOwnerPath(join(import.meta.dirname, '..', '..', '..', 'agent', 'keeper', 'godwit-keeper'));
const NOBODY = 65534;
const nobody = { name: 'nobody', uid: NOBODY, gid: NOBODY, groups: [NOBODY], home: '/' };

describe('files as their owner', function () {
  let top: string;
  let saved: string;
  let mine: string;
  let rootOnly: string;
  before(function () {
    if (process.getuid?.() !== 0) this.skip();
  });
  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'godwit-as-owner-'));
    chmodSync(top, 0o755);
    saved = join(top, 'saved');
    mkdirSync(saved, { mode: 0o700 });
    writeFileSync(join(saved, 'f'), 'from the checkpoint\n');
    mine = join(top, 'mine');
    mkdirSync(mine);
    chownSync(mine, NOBODY, NOBODY);
    rootOnly = join(top, 'root-only');
    mkdirSync(rootOnly, { mode: 0o700 });
    writeFileSync(join(rootOnly, 'target'), 'root\n', { mode: 0o644 });
  });
  afterEach(() => rmSync(top, { recursive: true, force: true }));

  const refusal = async (to: string, mode = 0o644): Promise<GodwitError> => {
    try {
      await copyAsOwner(HELPER, nobody, [{ from: join(saved, 'f'), to, mode }], 'node0');
    } catch (err) {
      expect(err).to.be.instanceOf(GodwitError);
      return err as GodwitError;
    }
    throw new Error(`writing ${to} back was not refused`);
  };

  it("writes the file as the owner's, its mode masked to 0777", async () => {
    const to = join(mine, 'log');
    writeFileSync(to, 'a longer file that was there before\n');
    chownSync(to, NOBODY, NOBODY);
    await copyAsOwner(HELPER, nobody, [{ from: join(saved, 'f'), to, mode: 0o4755 }, { from: join(saved, 'f'), to: join(mine, 'new'), mode: 0o2640 }], 'node0');
    expect(readFileSync(to, 'utf8')).to.equal('from the checkpoint\n');
    const st = statSync(to);
    expect([st.uid, st.gid, (st.mode & 0o7777).toString(8)], 'no setuid bit').to.deep.equal([NOBODY, NOBODY, '755']);
    const made = statSync(join(mine, 'new'));
    expect([made.uid, (made.mode & 0o7777).toString(8)], 'created by the owner, no setgid bit').to.deep.equal([NOBODY, '640']);
  });

  it('refuses a symbolic link, as the last component or on the way, and leaves its target alone', async () => {
    symlinkSync(join(rootOnly, 'target'), join(mine, 'link'));
    symlinkSync(rootOnly, join(mine, 'dirlink'));
    for (const to of [join(mine, 'link'), join(mine, 'dirlink', 'target')]) {
      const err = await refusal(to);
      expect(err.code).to.equal('GODWIT_ERR_CANNOT_RESTORE');
      expect(err.message).to.equal(
        `the files saved with the checkpoint could not be written back as nobody on node0: cannot write ${to}: it is, or lies under, a symbolic link, which a recovery does not follow (ELOOP); nothing was started`,
      );
    }
    // refused as a link, whatever lies behind it
    chmodSync(rootOnly, 0o755);
    symlinkSync(join(top, 'root-only'), join(mine, 'open-dirlink'));
    expect((await refusal(join(mine, 'open-dirlink', 'target'))).message).to.match(/symbolic link/);
    expect(readFileSync(join(rootOnly, 'target'), 'utf8')).to.equal('root\n');
    expect(statSync(join(rootOnly, 'target')).uid).to.equal(0);
  });

  it("refuses what the owner may not write, and names every file that failed", async () => {
    chmodSync(rootOnly, 0o755);
    const err = await refusal(join(rootOnly, 'target'));
    expect(err.message).to.include(`cannot write ${join(rootOnly, 'target')}: permission denied (EACCES)`);
    expect(readFileSync(join(rootOnly, 'target'), 'utf8')).to.equal('root\n');
    const both = await copyAsOwner(HELPER, nobody, [
      { from: join(saved, 'missing'), to: join(mine, 'a'), mode: 0o644 },
      { from: join(saved, 'f'), to: join(mine, 'b'), mode: 0o644 },
      { from: join(saved, 'f'), to: join(top, 'c'), mode: 0o644 },
    ], 'node0').then(() => undefined, (e: GodwitError) => e);
    expect(both?.details?.failed).to.deep.equal([
      { path: join(mine, 'a'), stage: 'source', errno: 'ENOENT' },
      { path: join(top, 'c'), stage: 'open', errno: 'EACCES' },
    ]);
    expect(readFileSync(join(mine, 'b'), 'utf8'), 'the others are written').to.equal('from the checkpoint\n');
  });

  it('tells the sizes of files as the owner sees them: nothing out of their reach, nothing through a symbolic link', async () => {
    writeFileSync(join(mine, 'log'), 'twelve bytes');
    symlinkSync(join(mine, 'log'), join(mine, 'link'));
    symlinkSync(mine, join(top, 'dirlink'));
    const paths = [join(mine, 'log'), join(rootOnly, 'target'), join(mine, 'link'), join(top, 'dirlink', 'log'), join(mine, 'gone')];
    const sizes = await sizesAsOwner(HELPER, nobody, paths, 'node0');
    expect(sizes).to.deep.equal([{ size: 12 }, { errno: constants.errno.EACCES }, { errno: constants.errno.ELOOP }, { errno: constants.errno.ELOOP }, { errno: constants.errno.ENOENT }]);
    const root = { name: 'root', uid: 0, gid: 0, groups: [0], home: '/root' };
    expect(await sizesAsOwner(HELPER, root, paths.slice(1, 3), 'node0'), 'root reaches the root-only file, and still follows no link').to.deep.equal([{ size: 5 }, { errno: constants.errno.ELOOP }]);
  });

  it('tells the sizes of more files than one run of the helper takes', async () => {
    writeFileSync(join(mine, 'log'), 'x');
    const sizes = await sizesAsOwner(HELPER, nobody, Array.from({ length: 600 }, () => join(mine, 'log')), 'node0');
    expect(sizes.length).to.equal(600);
    expect(sizes.every((s) => 'size' in s && s.size === 1)).to.equal(true);
  });
});
