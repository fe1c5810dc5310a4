/**
 * The program's life follows mosrun's, as a local job's does: SIGPIPE when mosrun's output is
 * closed, SIGHUP when mosrun dies or its terminal goes, nothing spooled without bound on the way,
 * and the end of a program known at once. `mosrun --detach` and the API's programs run on alone.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import type { Event } from '@godwit/schemas';
import { homePaths } from '../../cli/src/cluster/state.js';
import { api, cli, cluster, crashAndRestart, eventually, type Harness, mosrun, processInfo, REPO, scratchDir } from './harness.js';
import { openTerminal } from './tmux.js';

const MOSRUN = join(REPO, 'cli', 'dist', 'bin', 'mosrun.js');
const MiB = 1024 * 1024;

/** bytes of a process's output on the agents' disks: the running nodes' spools (their segments out.EPOCH.START), the home's kept output */
function spooled(h: Harness, id: number): { spool: number; spoolDisk: number; kept: number } {
  const sizes = { spool: 0, spoolDisk: 0, kept: 0 };
  for (const n of h.info.nodes) {
    const data = join(homePaths(h.home).nodesDir, n.name, 'data');
    const files = (dir: string, re: RegExp) => {
      try {
        return readdirSync(dir).filter((f) => re.test(f)).map((f) => statSync(join(dir, f)));
      } catch {
        return []; // none here, or removed as it was read
      }
    };
    for (const st of files(join(data, 'procs', String(id)), /^out\.\d+\.\d+$/)) {
      sizes.spool += st.size;
      sizes.spoolDisk += st.blocks * 512;
    }
    for (const st of files(join(data, 'kept', String(id)), /^\d+\.log$/)) sizes.kept += st.size;
  }
  return sizes;
}

/** the most of each that was on disk while `during` ran, sampled every 20 ms */
async function peakSpool<T>(h: Harness, id: () => number | undefined, during: Promise<T>): Promise<{ result: T; peak: ReturnType<typeof spooled> }> {
  const peak = { spool: 0, spoolDisk: 0, kept: 0 };
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const n = id();
      if (n !== undefined) {
        const now = spooled(h, n);
        peak.spool = Math.max(peak.spool, now.spool);
        peak.spoolDisk = Math.max(peak.spoolDisk, now.spoolDisk);
        peak.kept = Math.max(peak.kept, now.kept);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    return { result: await during, peak };
  } finally {
    done = true;
    await sampler;
  }
}

async function eventsOf(h: Harness, id: number): Promise<Event[]> {
  return (await api<Event[]>(h, 'GET', '/v1/events')).body.filter((e) => e.processId === id);
}

async function ended(h: Harness, id: number, withinMs: number) {
  return eventually(async () => {
    const p = await processInfo(h, id);
    return p.state === 'running' ? undefined : p;
  }, `process ${id} to be seen ended`, withinMs);
}

/** a shell program that writes `hup` into FILE when it gets SIGHUP, and says `ready` (then `tick N` every 0.1 s, with ticks) */
function hupRecorder(file: string, opts: { ticks?: boolean } = {}): string[] {
  const tick = opts.ticks ? 'i=$((i+1)); echo tick $i; ' : '';
  return ['sh', '-c', `trap 'echo hup > ${file}; exit 0' HUP; echo ready; while :; do ${tick}sleep 0.1; done`];
}

/** waits until the program of hupRecorder(file) got SIGHUP */
async function hupSeen(file: string): Promise<void> {
  await eventually(async () => {
    try {
      return readFileSync(file, 'utf8').trim() === 'hup' ? true : undefined;
    } catch {
      return undefined; // not yet
    }
  }, `the program to get SIGHUP (and write ${file})`, 20_000);
}

describe('the program lives as long as its mosrun', function () {
  this.timeout(120_000);
  let h: Harness;
  let scratch: string;
  before(async () => {
    h = await cluster();
  });
  beforeEach(() => {
    scratch = scratchDir('godwit-life-');
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  /**
   * `mosrun -v ARGV | (sleep HOLD; head -1; date)` through sh, sampling the spools meanwhile: the
   * process id, what head printed, when head exited (ms), and the most spooled and kept
   */
  async function pipeToHead(argv: string, holdS: number, meanwhile: (id: number, stderr: () => string) => Promise<void> = async () => {}) {
    let id: number | undefined;
    let gotId: () => void = () => {};
    const known = new Promise<void>((r) => (gotId = r));
    let stderr = '';
    const pipeline = execa('sh', ['-c', `node ${MOSRUN} -v ${argv} | (sleep ${holdS}; head -1; date +headgone=%s%3N >&2)`], {
      env: h.env, extendEnv: false, reject: false, timeout: 60_000, cwd: REPO, buffer: { stdout: true, stderr: false },
    });
    pipeline.stderr?.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      const m = /process (\d+) started/.exec(stderr);
      if (m && id === undefined) {
        id = Number(m[1]);
        gotId();
      }
    });
    const both = Promise.all([pipeline, known.then(() => meanwhile(id!, () => stderr))]);
    const { result: [res], peak } = await peakSpool(h, () => id, both);
    expect(id, `the process id mosrun -v printed (stderr: ${stderr})`).to.be.a('number');
    const headGone = Number(/headgone=(\d+)/.exec(stderr)?.[1]);
    return { id: id!, stdout: String(res.stdout), stderr, headGone, peak };
  }

  it('`mosrun yes | head -1` ends yes by SIGPIPE at once, with under 1 MiB spooled anywhere, its reader held back 2 s first', async () => {
    // head reads nothing for 2 s: the whole chain waits for it, as a local pipe would
    const run = await pipeToHead('yes', 2);
    expect(run.stdout, `the pipeline's output (stderr: ${run.stderr})`).to.equal('y');
    const p = await ended(h, run.id, 1000);
    expect(p.state).to.equal('exited');
    // tini reports a signal death of its child as 128+N
    expect(p.exitSignal === 'SIGPIPE' || p.exitCode === 141, `exit ${p.exitCode} ${p.exitSignal}`).to.equal(true);
    const endedAfter = p.endedAt! - run.headGone;
    const after = spooled(h, run.id);
    process.stdout.write(`      ended ${endedAfter} ms after head; peak spool ${run.peak.spool} B (${run.peak.spoolDisk} on disk), kept ${run.peak.kept} B\n`);
    expect(endedAfter, 'ms from head\'s exit to the program\'s end').to.be.below(1500);
    expect(Math.max(run.peak.spool, after.spool), `bytes spooled on its node (peak ${JSON.stringify(run.peak)})`).to.be.below(MiB);
    expect(Math.max(run.peak.kept, after.kept), `bytes kept at home (peak ${JSON.stringify(run.peak)})`).to.be.below(MiB);
  });

  it('a program killed while its mosrun is held back is seen ended at once', async () => {
    const started = Date.now();
    const run = await pipeToHead('yes', 4, async (id) => {
      // let the chain fill up behind the sleeping reader first
      await eventually(async () => (spooled(h, id).spool > 128 * 1024 ? true : undefined), () => `output spooled for process ${id}: ${JSON.stringify(spooled(h, id))}`, 10_000);
      const killedAt = Date.now();
      await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
      const p = await ended(h, id, 1500);
      process.stdout.write(`      seen ${p.state} ${Date.now() - killedAt} ms after SIGKILL, its mosrun still held back\n`);
      expect(Date.now() - started, 'the end seen while the reader still slept').to.be.below(4000);
    });
    expect(run.stdout).to.equal('y');
    expect((await processInfo(h, run.id)).exitSignal).to.equal('SIGKILL');
  });

  it("the program's closed stdout stays closed after it moves: its writes fail with EPIPE on the new node", async () => {
    const writer = [
      'import os, time',
      'n = 0',
      'while True:',
      '    n += 1',
      '    try:',
      "        os.write(1, b'line\\n')",
      '    except BrokenPipeError:',
      "        os.write(2, b'epipe %d\\n' % n)",
      '    time.sleep(0.1)',
    ].join('\n');
    const epipes = (text: string) => [...text.matchAll(/epipe (\d+)/g)].map((m) => Number(m[1]));
    // python ignores SIGPIPE: it reads EPIPE, and says so on stderr, which mosrun still copies
    const run = await pipeToHead(`python3 -c "${writer.replace(/"/g, '\\"')}"`, 0, async (id, stderr) => {
      await eventually(async () => (epipes(stderr()).length ? true : undefined), () => `EPIPE before the move: ${stderr().slice(-300)}`, 15_000);
      const mv = await cli(h, 'mosmigrate', [String(id), 'node1']);
      expect(mv.exitCode, mv.stderr).to.equal(0);
      expect((await processInfo(h, id)).node).to.equal('node1');
      const before = epipes(stderr()).at(-1)!;
      await eventually(async () => ((epipes(stderr()).at(-1) ?? 0) > before + 5 ? true : undefined), () => `EPIPE after the move: ${stderr().slice(-300)}`, 15_000);
      await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
    });
    expect(run.stdout).to.equal('line');
  });

  it('a program that ignores SIGPIPE gets EPIPE once mosrun\'s stdout is closed', async () => {
    const res = await execa('sh', ['-c', `node ${MOSRUN} sh -c 'trap "" PIPE; exec yes' | head -1`], { env: h.env, extendEnv: false, reject: false, timeout: 30_000, cwd: REPO });
    expect(res.stdout).to.equal('y');
    // yes reports the write error and exits 1
    expect(res.stderr).to.match(/yes: .*Broken pipe/);
  });

  it('a program with no follower spools at most its bound on its node; once killed, it is seen ended at once', async () => {
    const run = await api<{ id: number }>(h, 'POST', '/v1/processes', { argv: ['yes'], cwd: '/', homeNode: 'node0', node: 'node1' });
    expect(run.status, JSON.stringify(run.body)).to.equal(201);
    const id = run.body.id;
    try {
      // its output flows into the kept output at home as fast as the relay goes: wait for a lot
      await eventually(async () => (spooled(h, id).kept > 4 * MiB ? true : undefined), () => `4 MiB kept for process ${id}: ${JSON.stringify(spooled(h, id))}`, 30_000);
      const running = spooled(h, id);
      expect(running.spoolDisk, `its spool on node1: ${JSON.stringify(running)}`).to.be.below(MiB);
    } finally {
      const t0 = Date.now();
      await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
      const p = await ended(h, id, 2000);
      process.stdout.write(`      seen ${p.state} ${Date.now() - t0} ms after SIGKILL\n`);
    }
    // two rotating segments of the orchestrator's output limit at most
    expect(spooled(h, id).kept).to.be.at.most(2 * 8 * MiB + 512 * 1024);
  });

  it('a SIGKILLed mosrun leaves its program a SIGHUP, recorded as an event', async () => {
    const file = join(scratch, 'hup');
    const run = mosrun(h, hupRecorder(file));
    const id = await run.id();
    await run.waitFor(/ready/);
    run.child.kill('SIGKILL');
    await run.child;
    const t0 = Date.now();
    await hupSeen(file);
    process.stdout.write(`      SIGHUP ${Date.now() - t0} ms after mosrun was killed\n`);
    await ended(h, id, 5000);
    expect((await eventsOf(h, id)).map((e) => e.kind)).to.include('hangup');
  });

  it('an orchestrator restart does not hang up the program: mosrun reconnects within the grace', async () => {
    const file = join(scratch, 'hup');
    const run = mosrun(h, hupRecorder(file, { ticks: true }));
    const id = await run.id();
    await run.waitFor(/tick 5\n/);
    await crashAndRestart(h, 'orchestrator');
    const ticks = () => Number([...run.stdout().matchAll(/tick (\d+)/g)].at(-1)?.[1] ?? 0);
    const after = ticks();
    // output flowing again, well past the grace: mosrun followed it through the restart
    await eventually(async () => (ticks() > after + 80 ? true : undefined), () => `ticks past ${after + 80} after the restart; at ${ticks()}`, 60_000);
    expect((await processInfo(h, id)).state).to.equal('running');
    expect(existsSync(file), 'the program got SIGHUP').to.equal(false);
    expect((await eventsOf(h, id)).map((e) => e.kind)).to.not.include('hangup');
    await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
    await run.child;
  });

  it('`mosrun --detach` prints the id, returns, and the program runs on with its output kept', async () => {
    const res = await cli(h, 'mosrun', ['--detach', 'sh', '-c', 'i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo $i; sleep 0.1; done']);
    expect(res.exitCode, res.stderr).to.equal(0);
    const id = Number(res.stdout.trim());
    expect(id, `mosrun --detach printed ${JSON.stringify(res.stdout)}`).to.be.above(0);
    const text = async () => {
      const out = await h.fetch(new URL(`/v1/processes/${id}/output`, h.info.url), { headers: { authorization: `Bearer ${h.token}` } });
      return (await out.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { data?: string }).map((l) => (l.data ? Buffer.from(l.data, 'base64').toString() : '')).join('');
    };
    try {
      // well past the grace an attached program gets: 6 s of its output, read later
      await eventually(async () => ((await text()).includes('\n60\n') ? true : undefined), 'its output to reach 60', 30_000);
      expect((await processInfo(h, id)).state).to.equal('running');
      expect((await eventsOf(h, id)).map((e) => e.kind)).to.not.include('hangup');
    } finally {
      await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
    }
  });

  it('closing the terminal mosrun runs in hangs up the program', async () => {
    const file = join(scratch, 'hup');
    const term = await openTerminal({ argv: ['node', MOSRUN, ...hupRecorder(file)], env: h.env, cwd: REPO, columns: 100, rows: 20 });
    try {
      await term.waitFor(/ready/, 'the program to start');
    } finally {
      await term.close();
    }
    await hupSeen(file);
  });
});
