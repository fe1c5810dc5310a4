/**
 * The keeper's side of a bounded spool and of a closed output stream, with the real keeper and a
 * real program (`yes`): it writes no more than its bound beyond what was taken, in segments of a
 * spool each (agent/src/keeper.ts), removes those wholly taken, and closing stdout ends the
 * program by SIGPIPE. Needs root (the keeper runs the program as its owner).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { outputSegmentPath, outputSegments, readEvents, startKeeper, writeClosed, writeTaken } from '../../../agent/src/keeper.js';
import { waitFor } from '../../../agent/src/wait.js';

const KEEPER = join(import.meta.dirname, '..', '..', '..', 'agent', 'keeper', 'godwit-keeper');
const NOBODY = 65534;
const SPOOL = 100_000;
/** one read of the keeper's past the bound, and a frame header */
const READ_SLACK = 65536 + 5;

describe("the keeper's bounded spool and closed streams", function () {
  this.timeout(30_000);
  let top: string;
  let dir: string;
  before(function () {
    if (process.getuid?.() !== 0) this.skip();
  });
  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'godwit-keeper-flow-'));
    chmodSync(top, 0o755);
    dir = join(top, 'proc');
    mkdirSync(dir, { mode: 0o700 });
  });
  /** the program's init, which the test ends itself when it failed before its program ended */
  let init: number | undefined;
  afterEach(async () => {
    if (init !== undefined && !readEvents(dir, 0).some((e) => e.ev === 'exited')) {
      // PID 1 of the program's namespace: its end takes `yes` along, and the keeper ends with it
      process.kill(init, 'SIGKILL');
      await waitFor(() => readEvents(dir, 0).some((e) => e.ev === 'exited') || undefined, { timeoutMs: 10_000, what: 'the keeper to see its program end' });
    }
    init = undefined;
    rmSync(top, { recursive: true, force: true });
  });

  /** the segments on disk: where each starts and its apparent size */
  const onDisk = () =>
    outputSegments(dir, 0).flatMap((start) => {
      // a segment taken may go between the listing and its stat: the keeper removes those
      const size = statSync(outputSegmentPath(dir, 0, start), { throwIfNoEntry: false })?.size;
      return size === undefined ? [] : [{ start, size }];
    });
  /** bytes the keeper has written in all: where its last segment ends */
  const written = () => {
    const last = onDisk().at(-1);
    return last ? last.start + last.size : 0;
  };
  /** waits until the output stops growing, and returns how much was written */
  async function settled(): Promise<number> {
    let last = -1;
    return waitFor(
      () => {
        const now = written();
        if (now === last) return now;
        last = now;
        return undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'the output to stop growing' },
    );
  }

  it('stops reading at its bound beyond what was taken, in segments, removes those taken, and a closed stdout gives SIGPIPE', async () => {
    const ev = await startKeeper(
      {
        keeperPath: KEEPER, dir, epoch: 0, user: `${NOBODY} ${NOBODY} `, env: { PATH: '/usr/bin:/bin' }, cgroups: [], spoolBytes: SPOOL,
        mode: { launch: { cwd: '/', argv: ['yes'], env: { PATH: '/usr/bin:/bin' }, init: '/usr/bin/tini' } },
      },
      10_000,
    );
    expect(ev.ev).to.equal('started');
    if (ev.ev === 'started') init = ev.pid;
    const first = await settled();
    expect(first).to.be.within(SPOOL, SPOOL + READ_SLACK);
    const taken = 3 * SPOOL;
    writeTaken(dir, 0, taken);
    const second = await settled();
    expect(second).to.be.within(taken + SPOOL, taken + SPOOL + READ_SLACK);
    const segs = onDisk();
    const seen = JSON.stringify(segs);
    // laid end to end, each begun once the one before held a spool
    for (let i = 1; i < segs.length; i++) {
      expect(segs[i]!.start, `segments ${seen}`).to.equal(segs[i - 1]!.start + segs[i - 1]!.size);
      expect(segs[i - 1]!.size, `segments ${seen}`).to.be.within(SPOOL, SPOOL + READ_SLACK);
    }
    // the one holding what was taken is the oldest left: all before it are removed
    expect(segs[0]!.start, `segments ${seen}, taken ${taken}`).to.be.at.most(taken);
    expect(segs[1]?.start ?? Infinity, `segments ${seen}, taken ${taken}`).to.be.above(taken);
    const apparent = segs.reduce((sum, s) => sum + s.size, 0);
    expect(apparent, `segments ${seen}`).to.be.at.most(2 * (SPOOL + READ_SLACK));
    writeClosed(dir, 0, ['stdout']);
    const exited = await waitFor(() => readEvents(dir, 0).find((e) => e.ev === 'exited'), { timeoutMs: 10_000, what: 'the program to end' });
    // tini passes on its child's death by SIGPIPE as 128+13
    expect(exited).to.deep.equal({ ev: 'exited', code: 141, signal: 0, oomKills: -1 });
  });
});
