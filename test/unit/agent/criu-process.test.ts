/**
 * The agent knows a CRIU it started by PID and start time: a record whose PID is now another
 * program's (one named criu, another user's) is not taken for it, nor signalled.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { execa, type ResultPromise } from 'execa';
import { type CriuProcess, criuAlive, criuProcess, criuRecord, killCriu, parseCriuRecord, startTimeOf } from '../../../agent/src/criu-process.js';
import type { Criu } from '../../../agent/src/criu.js';
import { createImageStore } from '../../../agent/src/images.js';
import { readEvents, startKeeper } from '../../../agent/src/keeper.js';
import { LAZY_PAGES_PID, lazyPagesIn } from '../../../agent/src/lazy.js';
import { waitFor } from '../../../agent/src/wait.js';

const KEEPER = join(import.meta.dirname, '..', '..', '..', 'agent', 'keeper', 'godwit-keeper');
const NOBODY = 65534;

describe('a CRIU known by PID and start time', function () {
  this.timeout(30_000);
  let dir: string;
  const started: ResultPromise[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-criu-process-'));
    chmodSync(dir, 0o755);
  });
  afterEach(async () => {
    for (const p of started.splice(0)) {
      if (p.pid !== undefined && p.exitCode === null) p.kill('SIGKILL');
      await p;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** `sleep 60` run as a program named criu (a symlink's name), as `uid`, once it runs as that (wrapped: a promise returned would be awaited) */
  async function namedCriu(uid?: number): Promise<{ child: ResultPromise }> {
    const bin = join(dir, `criu-${started.length}`, 'criu');
    mkdirSync(join(dir, `criu-${started.length}`));
    symlinkSync('/bin/sleep', bin);
    const p = execa(bin, ['60'], { reject: false, timeout: 25_000, ...(uid === undefined ? {} : { uid, gid: uid }) });
    started.push(p);
    await waitFor(() => (readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').startsWith(bin) ? true : undefined), { timeoutMs: 10_000, what: `${bin} to run as itself` });
    return { child: p };
  }

  /** how it ended: the signal, or its exit code */
  async function endOf(p: ResultPromise): Promise<string> {
    const r = await p;
    return r.signal ?? `exit ${r.exitCode}`;
  }

  it("reads field 22 of /proc/PID/stat, whatever the command's name holds, and keeps it in a record older ones still read as", async () => {
    // a name with a space and a parenthesis, which a naive split of the stat line gets wrong
    const odd = join(dir, 'a) b');
    symlinkSync('/bin/sleep', odd);
    const p = execa(odd, ['60'], { reject: false, timeout: 25_000 });
    started.push(p);
    await waitFor(() => (readFileSync(`/proc/${p.pid}/stat`, 'utf8').includes('(a) b)') ? true : undefined), { timeoutMs: 10_000, what: 'the odd name in its stat' });
    const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
    const field22 = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    expect(startTimeOf(p.pid!)).to.equal(field22);
    expect(startTimeOf(process.pid), "this process's start").to.be.a('number').and.to.be.below(field22 + 1);
    const c = criuProcess(p.pid!);
    expect(parseCriuRecord(criuRecord(c))).to.deep.equal({ pid: p.pid, start: field22 });
    expect(parseCriuRecord('1234\n'), 'a record from before start times').to.deep.equal({ pid: 1234 });
    expect(parseCriuRecord('12x'), 'no record').to.equal(undefined);
  });

  it('takes a live process for the CRIU only when it started when the CRIU did, and ends only that one', async () => {
    const { child: p } = await namedCriu();
    const pid = p.pid!;
    const start = startTimeOf(pid)!;
    // the CRIU recorded there ended, and this program (named criu) took its PID later
    const earlier: CriuProcess = { pid, start: start - 1 };
    expect(criuAlive(earlier), 'another start time at the PID').to.equal(false);
    killCriu(earlier);
    expect(criuAlive({ pid, start }), 'the program at the PID runs on').to.equal(true);
    // a live program at a recorded PID that is no CRIU at all, with the start of one
    const sleeper = execa('/bin/sleep', ['60'], { reject: false, timeout: 25_000 });
    started.push(sleeper);
    await waitFor(() => (startTimeOf(sleeper.pid!) !== undefined ? true : undefined), { timeoutMs: 10_000, what: 'sleep to start' });
    expect(criuAlive({ pid: sleeper.pid!, start: startTimeOf(sleeper.pid!)! + 5 })).to.equal(false);
    killCriu({ pid, start });
    expect(await endOf(p), 'the very CRIU recorded is ended').to.equal('SIGKILL');
    expect(criuAlive({ pid, start }), 'once gone').to.equal(false);
  });

  it('treats a record without a start time as before: a live process named criu is taken for it, another is not', async () => {
    const { child: p } = await namedCriu();
    expect(criuAlive({ pid: p.pid! })).to.equal(true);
    expect(criuAlive({ pid: process.pid }), 'node, not criu').to.equal(false);
  });

  it("never signals another user's program named criu that sits at a lazy-pages daemon's recorded PID", async () => {
    const { child: theirs } = await namedCriu(NOBODY);
    const start = startTimeOf(theirs.pid!)!;
    // an agent restart finds a lazy move's images that never arrived whole, their daemon long gone:
    // the record names its PID, which the other user's program has since
    const partial = join(dir, 'run', 'images', '9.partial');
    mkdirSync(partial, { recursive: true });
    writeFileSync(join(partial, LAZY_PAGES_PID), criuRecord({ pid: theirs.pid!, start: start - 7 }));
    expect(lazyPagesIn(partial)).to.deep.equal({ pid: theirs.pid, start: start - 7 });
    createImageStore(join(dir, 'data'), {} as Criu, Buffer.alloc(32), join(dir, 'run'));
    expect(criuAlive({ pid: theirs.pid!, start }), "the other user's program runs on").to.equal(true);
    theirs.kill('SIGTERM');
    expect(await endOf(theirs), 'it ended by the test, not by the agent').to.equal('SIGTERM');
  });

  it("has a restore's keeper report its CRIU's PID and start time as it forks it", async function () {
    if (process.getuid?.() !== 0) this.skip();
    const proc = join(dir, 'proc');
    mkdirSync(proc, { mode: 0o700 });
    const pidfile = join(proc, 'restore.pid');
    const mine = join(proc, 'criu.pid');
    // a stand-in for `criu restore -d`: it says its PID, waits a while, and leaves a short "program"
    const script = `echo $$ > ${mine}; sleep 1; sleep 0.2 & echo $! > ${pidfile}`;
    let told: CriuProcess | undefined;
    let seenStart: number | undefined;
    const ev = await startKeeper(
      {
        keeperPath: KEEPER, dir: proc, epoch: 1, user: `${NOBODY} ${NOBODY} ${NOBODY}`, env: { PATH: '/usr/bin:/bin' }, cgroups: [], spoolBytes: 1 << 20,
        mode: { restore: { pidfile, criuArgv: ['/bin/sh', '-c', script] } },
        criuStarted: (c) => {
          told = c;
          seenStart = startTimeOf(c.pid);
        },
      },
      10_000,
    );
    expect(ev.ev, JSON.stringify(ev)).to.equal('started');
    await waitFor(() => (readEvents(proc, 1).some((e) => e.ev === 'exited') ? true : undefined), { timeoutMs: 10_000, what: 'the keeper to end' });
    expect(told, 'the keeper reported its CRIU').to.not.equal(undefined);
    expect(told!.pid).to.equal(Number(readFileSync(mine, 'utf8')));
    expect(told!.start, 'its start time, as /proc showed it while it ran').to.equal(seenStart);
  });
});
