/**
 * A recovery does what it does on a user's behalf with that user's rights (issue 18): the
 * cluster's unprivileged guest checkpoints a program of theirs, then tries to have its recovery
 * open /etc/shadow, smuggle a second file into the keeper's list with a newline, write through a
 * symbolic link swapped in for its saved file, and bring that file back setuid. Each is refused,
 * or comes back as the guest's and nothing more; the plain recovery still runs, as the guest.
 */
import { createHash } from 'node:crypto';
import { chownSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Process } from '@godwit/schemas';
import { api, cli, cluster, eventually, type Harness, mosrun, numbersIn, oneTo, scratchDir } from './harness.js';

const STEPS = 80;
/**
 * Writes five lines to progress.log, held open, then makes it setuid itself (after its last
 * write: a write by its owner would clear the bit) and counts to STEPS on stdout; at the end it
 * says what its log's mode and lines are then.
 */
const PROGRAM = `
import os, sys, time
log = open('progress.log', 'a', buffering=1)
for i in range(1, 6):
    log.write(f'step {i}\\n')
os.fchmod(log.fileno(), 0o4755)
for i in range(1, int(sys.argv[1]) + 1):
    print(i, flush=True)
    time.sleep(0.1)
st = os.fstat(log.fileno())
with open('progress.log') as f:
    lines = sum(1 for _ in f)
print(f'result=mode {st.st_mode & 0o7777:o} uid {st.st_uid} lines {lines}', flush=True)
`;

describe('recovery as the owner', function () {
  let h: Harness;
  /** the same cluster, as its guest, whose programs run as the unprivileged account */
  let guest: Harness;
  let token: string;
  let work: string;
  let rootOnly: string;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
    guest = { ...h, env: { ...h.env, GODWIT_CONFIG: h.info.guestConfigPath } };
    token = h.info.guest.token;
  });
  beforeEach(() => {
    work = scratchDir('godwit-owner-');
    chownSync(work, h.info.guestAccount.uid, h.info.guestAccount.gid);
    rootOnly = scratchDir('godwit-root-only-');
  });
  afterEach(() => {
    rmSync(work, { recursive: true, force: true });
    rmSync(rootOnly, { recursive: true, force: true });
  });

  const processOf = async (id: number) => {
    const res = await api<Process>(h, 'GET', `/v1/processes/${id}`, undefined, token);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body;
  };
  const runningOfGuest = async () => (await api<Process[]>(h, 'GET', '/v1/processes', undefined, token)).body.filter((p) => p.state === 'running').map((p) => p.id);
  const uidOf = (pid: number) => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  const digest = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

  it('refuses /etc/shadow for -O, a newline in a remapped name, and a symbolic link swapped in for a saved file; brings the saved file back as the guest\'s without its setuid bit', async function () {
    this.timeout(300_000);
    const name = `owner-${process.pid}`;
    const guestUid = String(h.info.guestAccount.uid);
    const log = join(work, 'progress.log');

    const run = mosrun(guest, ['-C', name, 'python3', '-c', PROGRAM, String(STEPS)], { cwd: work });
    const id = await run.id();
    await run.waitFor(/^10$/m);
    expect(uidOf((await processOf(id)).pid!), 'the program runs as the guest').to.equal(guestUid);
    expect(statSync(log).mode & 0o7777, 'the program made its log setuid').to.equal(0o4755);
    const taken = await cli(guest, 'mosmigrate', [String(id), 'checkpoint']);
    expect(taken.exitCode, taken.stderr).to.equal(0);
    expect((await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' }, token)).status).to.equal(204);
    expect((await run.child).exitCode).to.equal(128 + 9);
    const file = `${name}.1`;

    // (a) a file the guest may not open: the keeper opens it as the guest, not as root
    const shadow = digest('/etc/shadow');
    const shadowed = await cli(guest, 'mosrun', ['-R', file, '-O', '3=/etc/shadow', '--rollback-files']);
    expect(shadowed.exitCode, shadowed.stdout).to.not.equal(0);
    expect(shadowed.stderr).to.match(/godwit-guest cannot open \/etc\/shadow for writing \(or create it\) on node\d: permission denied \(EACCES\); nothing was started/);
    expect(shadowed.stderr, 'no stack trace, no CRIU log').to.not.match(/\n\s+at |criu/i);
    expect(digest('/etc/shadow')).to.equal(shadow);
    expect(await runningOfGuest(), 'nothing started').to.deep.equal([]);

    // (b) a newline in a remapped name: mosrun says so, and the API refuses it too
    const injected = `3=${work}/x\n1 0 /etc/shadow`;
    const split = await cli(guest, 'mosrun', ['-R', file, '-O', injected]);
    expect(split.exitCode).to.equal(2);
    expect(split.stderr).to.include(`${JSON.stringify(injected)} holds a control character (a newline?)`);
    const direct = await api<{ message: string }>(h, 'POST', '/v1/checkpoints/recover', { file, remap: { 3: `${work}/x\n1 0 /etc/shadow` } }, token);
    expect(direct.status, JSON.stringify(direct.body)).to.equal(400);
    expect(direct.body.message).to.match(/remap/);

    // (d) the saved file's path is now a symbolic link to a file only root may write
    const target = join(rootOnly, 'target');
    writeFileSync(target, 'root only\n', { mode: 0o644 });
    rmSync(log);
    symlinkSync(target, log);
    const linked = await cli(guest, 'mosrun', ['-R', file, '--rollback-files']);
    expect(linked.exitCode, linked.stdout).to.not.equal(0);
    expect(linked.stderr).to.include(`could not be written back as godwit-guest on node`);
    expect(linked.stderr).to.include(`cannot write ${log}: it is, or lies under, a symbolic link, which a recovery does not follow (ELOOP); nothing was started`);
    expect(readFileSync(target, 'utf8'), 'the link was not written through').to.equal('root only\n');
    expect([statSync(target).uid, statSync(target).mode & 0o7777]).to.deep.equal([0, 0o644]);
    expect(lstatSync(log).isSymbolicLink()).to.equal(true);
    expect(await runningOfGuest(), 'nothing started').to.deep.equal([]);

    // (c, e) the plain recovery: the log comes back as it was, the guest's, without the setuid bit, and the program runs as the guest
    rmSync(log);
    const back = mosrun(guest, ['-R', file, '--rollback-files'], { cwd: work });
    const rid = await back.id();
    expect(uidOf((await processOf(rid)).pid!), 'the recovered program runs as the guest').to.equal(guestUid);
    const st = statSync(log);
    expect([st.uid, st.gid, (st.mode & 0o7777).toString(8)], 'written back as the guest, mode masked').to.deep.equal([h.info.guestAccount.uid, h.info.guestAccount.gid, '755']);
    expect((await back.child).exitCode, back.stderr()).to.equal(0);
    const resumed = numbersIn(back.stdout());
    expect(resumed).to.deep.equal(oneTo(STEPS).slice(resumed[0]! - 1));
    expect(back.stdout()).to.match(new RegExp(`^result=mode 755 uid ${guestUid} lines 5$`, 'm'));
    expect(existsSync(target) && readFileSync(target, 'utf8')).to.equal('root only\n');
    await eventually(async () => ((await runningOfGuest()).length === 0 ? true : undefined), 'the recovered program to end');
  });
});
