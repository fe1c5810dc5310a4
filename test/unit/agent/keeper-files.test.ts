/**
 * The files a recovery's keeper opens for CRIU: the list reaches the real keeper whole, whatever
 * bytes a path holds, and each file is opened as the owner, following no symbolic link. A fake
 * CRIU writes to the descriptors it was given. Needs root (the keeper switches identities).
 */
import { chmodSync, chownSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { openRefused } from '../../../agent/src/as-owner.js';
import type { InheritedFile } from '../../../agent/src/criu.js';
import { fileRecords, readEvents, startKeeper, type KeeperStarted } from '../../../agent/src/keeper.js';
import { waitFor } from '../../../agent/src/wait.js';

const KEEPER = join(import.meta.dirname, '..', '..', '..', 'agent', 'keeper', 'godwit-keeper');
const NOBODY = 65534;
const WRITE = constants.O_WRONLY | constants.O_CREAT;

describe("the keeper's files for a recovery", function () {
  let top: string;
  let dir: string;
  let mine: string;
  before(function () {
    if (process.getuid?.() !== 0) this.skip();
  });
  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'godwit-keeper-files-'));
    chmodSync(top, 0o755);
    dir = join(top, 'proc');
    mkdirSync(dir, { mode: 0o700 });
    mine = join(top, 'mine');
    mkdirSync(mine);
    chownSync(mine, NOBODY, NOBODY);
  });
  afterEach(() => rmSync(top, { recursive: true, force: true }));

  /** a restore whose "CRIU" writes its fd number into fds 6.. and starts a short-lived "program" */
  async function restore(files: InheritedFile[]): Promise<KeeperStarted> {
    const pidfile = join(dir, 'restore.pid');
    const script = `for fd in $(seq 6 ${5 + files.length}); do echo "fd $fd" >&$fd; done; sleep 0.2 & echo $! > ${pidfile}`;
    const ev = await startKeeper(
      {
        keeperPath: KEEPER, dir, epoch: 1, user: `${NOBODY} ${NOBODY} ${NOBODY}`, env: { PATH: '/usr/bin:/bin' }, cgroups: [], spoolBytes: 1 << 20,
        mode: { restore: { pidfile, criuArgv: ['/bin/sh', '-c', script], files } },
      },
      10_000,
    );
    await waitFor(() => (readEvents(dir, 1).some((e) => e.ev === 'exited' || e.ev === 'restore-failed') ? true : undefined), { timeoutMs: 10_000, what: 'the keeper to end' });
    return ev;
  }

  it('encodes each file as one NUL-ended record, whatever its path holds', () => {
    const records = fileRecords([
      { path: '/a', open: '/tmp/x\n0 0 /etc/shadow', flags: 1, offset: 0 },
      { path: '/b', open: '/tmp/with space', flags: 0, offset: 12 },
    ]);
    expect(records.split('\0')).to.deep.equal(['1 0 /tmp/x\n0 0 /etc/shadow', '0 12 /tmp/with space', '']);
    expect(() => fileRecords([{ path: '/a', open: '/tmp/a\0b', flags: 0, offset: 0 }])).to.throw(/NUL/);
  });

  it('opens every file, a newline in its name making no other entry, as the owner', async () => {
    // read as lines, the name would be two entries, the second one top/injected
    const odd = `${mine}/x\n${WRITE} 0 ${top}/injected`;
    mkdirSync(dirname(odd), { recursive: true });
    chownSync(dirname(odd), NOBODY, NOBODY);
    const plain = join(mine, 'plain');
    const ev = await restore([
      { path: odd, open: odd, flags: WRITE, offset: 0 },
      { path: plain, open: plain, flags: WRITE, offset: 0 },
    ]);
    expect(ev.ev, JSON.stringify(readEvents(dir, 1))).to.equal('started');
    expect(readFileSync(odd, 'utf8')).to.equal('fd 6\n');
    expect(readFileSync(plain, 'utf8')).to.equal('fd 7\n');
    expect(existsSync(join(top, 'injected')), 'no file from the rest of the name').to.equal(false);
    const st = statSync(plain);
    expect([st.uid, st.gid, st.mode & 0o7777], 'created by the owner, 0600').to.deep.equal([NOBODY, NOBODY, 0o600]);
  });

  it('refuses a file the owner may not open, and a symbolic link, naming the file and why', async () => {
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'root only\n', { mode: 0o600 });
    const files = [{ path: '/x', open: secret, flags: WRITE, offset: 0 }];
    const denied = await restore(files);
    expect(denied).to.include({ ev: 'restore-failed', stage: 'open', file: 0, errno: 13 });
    expect(openRefused(denied as Extract<KeeperStarted, { ev: 'restore-failed' }>, files, 'nobody', 'node0')?.message).to.equal(
      `nobody cannot open ${secret} for writing (or create it) on node0: permission denied (EACCES); nothing was started`,
    );
    expect(readFileSync(secret, 'utf8')).to.equal('root only\n');

    rmSync(join(dir, 'status.1'));
    const link = join(mine, 'link');
    const target = join(mine, 'target');
    writeFileSync(target, 'mine\n');
    chownSync(target, NOBODY, NOBODY);
    symlinkSync(target, link);
    const looped = await restore([{ path: '/x', open: link, flags: constants.O_RDONLY, offset: 0 }]);
    expect(looped).to.include({ ev: 'restore-failed', stage: 'open', file: 0 });
    expect(openRefused(looped as Extract<KeeperStarted, { ev: 'restore-failed' }>, [{ path: '/x', open: link, flags: 0, offset: 0 }], 'nobody', 'node0')?.message).to.match(
      /nobody cannot open .*\/link for reading on node0: it is, or lies under, a symbolic link, which a recovery does not follow \(ELOOP\)/,
    );
  });

  it('refuses to start on a DIR/stdin that is no FIFO, naming it, and runs nothing', async () => {
    const stdin = join(dir, 'stdin');
    writeFileSync(stdin, 'd\x05\0\0\0hello', { mode: 0o600 });
    const ran = join(top, 'ran');
    const start = startKeeper(
      {
        keeperPath: KEEPER, dir, epoch: 1, user: `${NOBODY} ${NOBODY} ${NOBODY}`, env: { PATH: '/usr/bin:/bin' }, cgroups: [], spoolBytes: 1 << 20,
        mode: { restore: { pidfile: join(dir, 'restore.pid'), criuArgv: ['/bin/touch', ran] } },
      },
      10_000,
    );
    await start.then(
      (ev) => expect.fail(`the keeper started: ${JSON.stringify(ev)}`),
      (err: Error) => expect(err.message).to.match(/exited \(125\): godwit-keeper: opening .*\/stdin, which must be a FIFO/),
    );
    expect(existsSync(ran), 'nothing was run').to.equal(false);
  });
});
