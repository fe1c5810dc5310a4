/**
 * godwit-deputy for real: the stand-in takes a freed PID back, as its owner without
 * capabilities, passes on every catchable signal, is seen to end by SIGKILL, and ends as it is
 * told; a PID that is taken is refused. And how a program's end becomes the stand-in's. Needs root.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { deputyPath, endDeputy, endedEvent, followDeputy, startDeputy } from '../../../agent/src/deputy.js';
import { endOf } from '../../../agent/src/deputies.js';
import { waitFor } from '../../../agent/src/wait.js';

const HELPER = deputyPath(join(import.meta.dirname, '..', '..', '..', 'agent', 'keeper', 'godwit-keeper'));
const NOBODY = '65534 65534 65534';

/** a PID that was just in use and is free now */
async function freedPid(): Promise<number> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  const pid = child.pid!;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  return pid;
}

const statusField = (pid: number, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim();

describe('the stand-in for a home PID (godwit-deputy)', function () {
  let dir: string;
  before(function () {
    if (process.getuid?.() !== 0) this.skip();
  });
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'godwit-deputy-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the PID as its owner, passes every signal on, and ends as told', async function () {
    this.timeout(20_000);
    const pid = await freedPid();
    const ev = await startDeputy({ path: HELPER, dir, pid, user: NOBODY, cgroups: [] }, 5000);
    const got: number[] = [];
    let gone = false;
    const stop = followDeputy(dir, (s) => got.push(s), () => (gone = true));
    try {
      expect(ev).to.deep.equal({ ev: 'started', pid });
      expect(statusField(pid, 'Uid')).to.match(/^65534\s+65534\s+65534\s+65534$/);
      expect(statusField(pid, 'CapBnd')).to.match(/^0+$/);
      expect(statusField(pid, 'NoNewPrivs')).to.equal('1');
      for (const sig of ['SIGTERM', 'SIGUSR1', 'SIGHUP', 'SIGINT', 'SIGTSTP', 'SIGWINCH'] as const) process.kill(pid, sig);
      await waitFor(() => (got.length >= 6 ? true : undefined), { timeoutMs: 5000, what: 'six signals', seen: () => got.join(' ') });
      // signals pending together come in the kernel's order (lowest first), as to any process
      expect(got).to.have.members([15, 10, 1, 2, 20, 28]);
      expect(endDeputy(dir, { code: 3 })).to.equal(true);
      await waitFor(() => (gone ? true : undefined), { timeoutMs: 5000, what: 'the signals FIFO to end with the stand-in' });
      expect(await waitFor(() => endedEvent(dir), { timeoutMs: 5000, what: 'the ended event' })).to.deep.equal({ ev: 'ended', code: 3, signal: 0 });
      expect(endDeputy(dir, { code: 0 }), 'nobody reads the control FIFO any more').to.equal(false);
    } finally {
      stop();
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ended
      }
    }
  });

  it('is seen to end by SIGKILL, and ends killed by the signal it is told', async function () {
    this.timeout(20_000);
    const killed = await freedPid();
    await startDeputy({ path: HELPER, dir, pid: killed, user: NOBODY, cgroups: [] }, 5000);
    let gone = false;
    followDeputy(dir, () => undefined, () => (gone = true));
    process.kill(killed, 'SIGKILL');
    await waitFor(() => (gone ? true : undefined), { timeoutMs: 5000, what: 'the stand-in to be gone' });
    expect(await waitFor(() => endedEvent(dir), { timeoutMs: 5000, what: 'the ended event' })).to.deep.equal({ ev: 'ended', code: -1, signal: 9 });

    const other = mkdtempSync(join(tmpdir(), 'godwit-deputy-'));
    try {
      const pid = await freedPid();
      await startDeputy({ path: HELPER, dir: other, pid, user: NOBODY, cgroups: [] }, 5000);
      endDeputy(other, { signal: constants.signals.SIGTERM });
      expect(await waitFor(() => endedEvent(other), { timeoutMs: 5000, what: 'the ended event' })).to.deep.equal({ ev: 'ended', code: -1, signal: 15 });
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('refuses a PID another process holds', async function () {
    expect(await startDeputy({ path: HELPER, dir, pid: process.pid, user: NOBODY, cgroups: [] }, 5000)).to.deep.equal({ ev: 'refused', errno: constants.errno.EEXIST });
  });

  it("ends as the program ended: its signal, its code, or killed when it was lost", function () {
    expect(endOf({ exitCode: null, exitSignal: 'SIGTERM' })).to.deep.equal({ signal: 15 });
    expect(endOf({ exitCode: 3, exitSignal: null })).to.deep.equal({ code: 3 });
    expect(endOf({ exitCode: null, exitSignal: null })).to.deep.equal({ signal: 9 });
    expect(endOf(undefined)).to.deep.equal({ signal: 9 });
  });
});
