/**
 * Signals and job control as a person meets them: in a terminal (tmux), Ctrl-C, Ctrl-Z and fg,
 * `kill` of mosrun's PID, `godwit kill`, and `godwit attach` to a program whose mosrun is gone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { api, cli, cluster, eventually, mosrun, processInfo, program, REPO, type Harness, type Run } from './harness.js';
import { openTerminal, type Terminal } from './tmux.js';

const CLI = join(REPO, 'cli', 'dist', 'bin');

/** the one-letter state of a process (R, S, T ...), from /proc/PID/stat; null once it is gone */
function procState(pid: number): string | null {
  try {
    return /^\d+ \(.*\) (\S)/s.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** the only child of a process */
function onlyChild(pid: number): number {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  if (kids.length !== 1) throw new Error(`process ${pid} has children [${kids.join(', ')}], not one`);
  return Number(kids[0]);
}

/** addresses listening on TCP port `port` in the network namespace of process `pid` */
function listening(pid: number, port: number): string[] {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return ['tcp', 'tcp6'].flatMap((f) =>
    readFileSync(`/proc/${pid}/net/${f}`, 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((cols) => cols[1]?.endsWith(hex) && cols[3] === '0A')
      .map((cols) => cols[1]!),
  );
}

// a tick may follow the terminal's echo of Ctrl-Z on its line ("^Ztick 4"): mosrun writes on until it stops
const ticks = (text: string): number[] => [...text.matchAll(/tick (\d+)$/gm)].map((m) => Number(m[1]));
const lastTick = (text: string): number => Math.max(0, ...ticks(text));

describe('signals and job control', function () {
  let h: Harness;
  let term: Terminal | undefined;
  let run: Run | undefined;
  let ids: number[] = [];

  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  afterEach(async function () {
    this.timeout(60_000);
    await term?.close();
    for (const id of ids) await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
    if (run) await run.child;
    [term, run, ids] = [undefined, undefined, []];
  });

  const inTerminal = (argv: string[]) => openTerminal({ argv, env: h.env, cwd: REPO, columns: 120, rows: 40 });

  /** the godwit id mosrun -v printed on the terminal */
  const idOnScreen = async (t: Terminal) => Number((await t.waitFor(/process (\d+) started/, 'mosrun -v to print the process id', 60_000)).match(/process (\d+) started/)![1]);

  it('Ctrl-C in the terminal ends the program, and mosrun with its status (130)', async function () {
    this.timeout(120_000);
    term = await inTerminal(['node', join(CLI, 'mosrun.js'), '-v', program('sigcatch.py')]);
    ids.push(await idOnScreen(term));
    await term.waitFor(/^tick 2$/m, 'the program to run', 60_000);
    await term.keys('C-c');
    await term.waitFor(/\[exited 130\]/, 'mosrun to end with 130 (SIGINT)');
    const p = await eventually(async () => {
      const p = await processInfo(h, ids[0]!);
      return p.state === 'running' ? undefined : p;
    }, 'the program to end');
    // tini reports its child's death by SIGINT as exit status 130
    expect(p.exitSignal === 'SIGINT' || p.exitCode === 130, JSON.stringify(p)).to.equal(true);
  });

  it('kill -USR1 (and USR2, WINCH, ALRM, QUIT, HUP) of mosrun reaches the program, and no debugger opens', async function () {
    this.timeout(120_000);
    run = mosrun(h, [program('sigcatch.py')]);
    ids.push(await run.id());
    await run.waitFor(/^sigcatch: ready$/m);
    const pid = run.child.pid!;
    for (const sig of ['SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGALRM', 'SIGQUIT', 'SIGHUP'] as const) {
      process.kill(pid, sig);
      await run.waitFor(new RegExp(`^got ${sig}$`, 'm'), 30_000);
    }
    expect(run.stderr()).not.to.match(/Debugger|inspector/i);
    expect(listening(pid, 9229), 'addresses listening on port 9229').to.deep.equal([]);
    expect(procState(pid), 'mosrun after the signals').to.be.oneOf(['S', 'R']);
  });

  it('Ctrl-Z stops the program and then mosrun; fg continues both, the output going on from where it stopped', async function () {
    this.timeout(180_000);
    term = await inTerminal(['bash', '--norc', '--noprofile', '-i']);
    const shell = await term.programPid();
    await term.keys(`node ${join(CLI, 'mosrun.js')} -v ${program('sigcatch.py')}`, 'Enter');
    const id = await idOnScreen(term);
    ids.push(id);
    await term.waitFor(/^tick 3$/m, 'the program to run', 60_000);
    const mosrunPid = onlyChild(shell);
    const programPid = (await processInfo(h, id)).pid!;

    await term.keys('C-z');
    await term.waitFor(/Stopped/, "the shell to say the job stopped");
    await eventually(async () => (procState(programPid) === 'T' ? true : undefined), () => `the program (pid ${programPid}) to be stopped: its state is ${procState(programPid)}`);
    expect(procState(mosrunPid), 'mosrun').to.equal('T');
    // stopped, it writes nothing: its output (kept on its home node) stays where it was
    const before = (await processInfo(h, id)).outputBytes;
    await new Promise((r) => setTimeout(r, 1500));
    expect((await processInfo(h, id)).outputBytes, 'output bytes of the stopped program after 1.5 s').to.equal(before);
    const stoppedAt = lastTick(await term.screen());

    await term.keys('fg', 'Enter');
    await term.waitFor(new RegExp(`tick ${stoppedAt + 3}$`, 'm'), `the output to go on past tick ${stoppedAt}`);
    expect(procState(programPid), 'the program after fg').to.be.oneOf(['S', 'R']);
    const screen = await term.screen();
    const after = ticks(screen).filter((n) => n > stoppedAt);
    // the ticks go on one by one from where they stopped: no burst of what it would have printed meanwhile
    expect(after.slice(0, 3), `the first ticks after fg; the screen:\n${screen}`).to.deep.equal([stoppedAt + 1, stoppedAt + 2, stoppedAt + 3]);
    await term.waitFor(/got SIGCONT/, 'the program to have been continued by SIGCONT');

    await term.keys('C-c');
    // typed while mosrun still runs, the line would be the program's input (mosrun passes the
    // terminal's input on), not the shell's
    await eventually(async () => (procState(mosrunPid) === null ? true : undefined), () => `mosrun (pid ${mosrunPid}) to end after Ctrl-C: its state is ${procState(mosrunPid)}`);
    await term.keys('echo "status $?"', 'Enter');
    await term.waitFor(/^status 130$/m, 'mosrun to end with 130 after Ctrl-C');
  });

  it('godwit kill ID USR2 reaches the handler; godwit kill ID ends it with SIGTERM; bad signals and ids are refused', async function () {
    this.timeout(120_000);
    run = mosrun(h, [program('sigcatch.py')]);
    const id = await run.id();
    ids.push(id);
    await run.waitFor(/^sigcatch: ready$/m);

    const usr2 = await cli(h, 'godwit', ['kill', String(id), 'USR2']);
    expect(usr2.exitCode, usr2.stderr).to.equal(0);
    await run.waitFor(/^got SIGUSR2$/m, 30_000);
    const hup = await cli(h, 'godwit', ['kill', '-s', 'hup', String(id)]);
    expect(hup.exitCode, hup.stderr).to.equal(0);
    await run.waitFor(/^got SIGHUP$/m, 30_000);

    const bogus = await cli(h, 'godwit', ['kill', String(id), 'BOGUS']);
    expect(bogus.exitCode).to.equal(2);
    expect(bogus.stderr).to.match(/unknown signal 'BOGUS'/);
    const nobody = await cli(h, 'godwit', ['kill', '999999', 'USR1']);
    expect(nobody.exitCode, nobody.stderr).to.not.equal(0);
    expect(nobody.stderr).to.match(/999999/);

    const ended = await cli(h, 'godwit', ['kill', String(id)]);
    expect(ended.exitCode, ended.stderr).to.equal(0);
    const done = await run.child;
    expect(done.exitCode, run.stderr()).to.equal(143);
  });

  it('godwit attach, after mosrun was killed, shows the output going on and takes its signals and exit status', async function () {
    this.timeout(180_000);
    run = mosrun(h, [program('sigcatch.py')]);
    const id = await run.id();
    ids.push(id);
    await run.waitFor(/^tick 2$/m);
    run.child.kill('SIGKILL');
    await run.child;
    const seen = lastTick(run.stdout());

    term = await inTerminal(['node', join(CLI, 'godwit.js'), 'attach', String(id)]);
    await term.waitFor(new RegExp(`^tick ${seen + 10}$`, 'm'), `the output to go on past tick ${seen} after attaching`);
    await cli(h, 'godwit', ['kill', '-USR1', String(id)]);
    await term.waitFor(/^got SIGUSR1$/m, 'the handler to run');
    await term.keys('C-c');
    await term.waitFor(/\[exited 130\]/, 'attach to end with the status of the program killed by SIGINT (130)');
  });
});
