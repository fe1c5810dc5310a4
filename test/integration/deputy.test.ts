/**
 * MOSIX's deputy for the home PID: after a program moved away, `kill HOMEPID` on its home node
 * still reaches it, as its owner's and nobody else's, and the stand-in holding that PID ends
 * with the program.
 */
import { readFileSync, rmSync } from 'node:fs';
import { expect } from 'chai';
import { execa } from 'execa';
import type { Event, Process } from '@godwit/schemas';
import { api, cli, cluster, crashAndRestart, eventually, guestDir, guestEnv, mosrun, processInfo, standInAt, type Harness, type Run, type RunAs } from './harness.js';

/** prints a tick every 0.2 s; on SIGTERM says so, and with argument `exit`, exits 3 */
const TERM_HANDLER = [
  'import signal, sys, time',
  'def on_term(s, f):',
  '    print("caught SIGTERM", flush=True)',
  '    if sys.argv[1:] == ["exit"]: sys.exit(3)',
  'signal.signal(signal.SIGTERM, on_term)',
  'i = 0',
  'while True:',
  '    i += 1',
  '    print(f"tick {i}", flush=True)',
  '    time.sleep(0.2)',
].join('\n');

/** what a line of /proc/PID/status says, or undefined when no such process */
function statusOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
}
const field = (status: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '?';

describe('the home PID after a move (MOSIX deputy)', function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  /** `kill -SIG PID` in the home node's network namespace, as `as` (root when not given) */
  const killAtHome = (sig: string, pid: number, as?: RunAs) =>
    execa('nsenter', [`--net=/run/netns/${h.info.nodes[0]!.netns}`, '--', ...(as ? ['setpriv', `--reuid=${as.uid}`, `--regid=${as.gid}`, '--clear-groups', '--'] : []), 'kill', `-${sig}`, String(pid)], { reject: false });

  /** a test that failed half way leaves nothing running: neither the program nor its mosrun */
  async function cleanUp(run: Run, id: number | undefined, token = h.token): Promise<void> {
    if (id !== undefined) await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' }, token).catch(() => undefined);
    run.child.kill('SIGKILL');
    await run.child;
  }

  /** root's `kill -KILL HOMEPID` at home: its mosrun ends, and so does the process, as it is then */
  async function killHomePid(run: Run, id: number, homePid: number): Promise<Process> {
    const kill = await killAtHome('KILL', homePid);
    expect(kill.exitCode, `kill -KILL ${homePid}: ${kill.stderr}`).to.equal(0);
    await run.child;
    return eventually(async () => {
      const p = await processInfo(h, id);
      return p.state === 'exited' ? p : undefined;
    }, `process ${id} to end after kill -KILL ${homePid}`);
  }

  async function mosmigrate(id: number, node: string, env?: NodeJS.ProcessEnv): Promise<void> {
    const mig = await cli(h, 'mosmigrate', [String(id), node], env ? { env } : {});
    expect(mig.exitCode, `mosmigrate ${id} ${node}: ${mig.stderr}`).to.equal(0);
  }

  it("passes root's kill -TERM and kill -KILL of the home PID on to its program after two moves; the guest's kill is refused", async function () {
    this.timeout(180_000);
    const run = mosrun(h, ['python3', '-u', '-c', TERM_HANDLER]);
    const id = await run.id();
    await run.waitFor(/tick 2/);
    const home = await processInfo(h, id);
    expect(home.node).to.equal('node0');
    const homePid = home.origPid!;
    expect(home.pid, 'the program runs as its home PID before it moves').to.equal(homePid);
    try {
      await mosmigrate(id, 'node1');
      await mosmigrate(id, 'node2');
      const away = await processInfo(h, id);
      expect(away.node).to.equal('node2');
      expect(away.pid, 'the program has another PID on node2').to.not.equal(homePid);
      await eventually(async () => (standInAt(homePid) ? true : undefined), () => `a stand-in holding PID ${homePid}: /proc says ${statusOf(homePid)?.slice(0, 200) ?? 'nothing'}`, 10_000);
      const status = statusOf(homePid)!;
      expect(field(status, 'Uid').split(/\s+/), "the stand-in runs as the program's owner, root").to.deep.equal(['0', '0', '0', '0']);
      for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(field(status, set), `${set} of the stand-in`).to.match(/^0+$/);
      expect(field(status, 'NoNewPrivs')).to.equal('1');
      const groups = readFileSync(`/proc/${homePid}/cgroup`, 'utf8');
      expect(groups, "the stand-in is in node0's program control groups, which end with the cluster").to.match(/\/node0$/m);
      const events = await api<Event[]>(h, 'GET', `/v1/events?process=${id}`);
      expect(events.body.map((e) => e.message).join('\n')).to.match(new RegExp(`PID ${homePid} stays on node0 as a stand-in`));

      const guest = await killAtHome('TERM', homePid, h.info.guestAccount);
      expect(guest.exitCode, "the guest's kill -TERM of root's home PID").to.not.equal(0);
      expect(guest.stderr, "the guest's kill -TERM of root's home PID").to.match(/Operation not permitted/);

      const term = await killAtHome('TERM', homePid);
      expect(term.exitCode, `kill -TERM ${homePid}: ${term.stderr}`).to.equal(0);
      await run.waitFor(/caught SIGTERM/, 15_000);
      expect(run.stdout().match(/caught SIGTERM/g), "only root's TERM reached the handler").to.have.length(1);
      const ticks = run.stdout().length;
      await eventually(async () => (run.stdout().length > ticks ? true : undefined), 'the program to print on after its handler ran');

      const ended = await killHomePid(run, id, homePid);
      expect([ended.node, ended.exitSignal], 'it ended where it ran, killed by SIGKILL').to.deep.equal(['node2', 'SIGKILL']);
      await eventually(async () => (standInAt(homePid) ? undefined : true), `the stand-in at PID ${homePid} to be gone`, 10_000);
    } finally {
      await cleanUp(run, id);
    }
  });

  it('keeps the home PID of a program frozen at home: kill -KILL of it ends the frozen program', async function () {
    this.timeout(120_000);
    const run = mosrun(h, ['python3', '-u', '-c', TERM_HANDLER]);
    const id = await run.id();
    try {
      await run.waitFor(/tick 2/);
      const homePid = (await processInfo(h, id)).origPid!;
      await mosmigrate(id, 'freeze');
      await eventually(async () => (standInAt(homePid) ? true : undefined), `a stand-in holding PID ${homePid} of the frozen program`, 10_000);
      expect((await killHomePid(run, id, homePid)).exitSignal).to.equal('SIGKILL');
    } finally {
      await cleanUp(run, id);
    }
  });

  it("passes the guest's own kill -TERM of its program's home PID on, after home's agent restarted; the stand-in ends with the program", async function () {
    this.timeout(180_000);
    const dir = guestDir(h, 'godwit-deputy-');
    const env = guestEnv(h);
    const run = mosrun(h, ['python3', '-u', '-c', TERM_HANDLER, 'exit'], { cwd: dir, env });
    let id: number | undefined;
    try {
      id = await run.id();
      await run.waitFor(/tick 2/);
      const homePid = (await api<Process>(h, 'GET', `/v1/processes/${id}`, undefined, h.info.guest.token)).body.origPid!;
      await mosmigrate(id, 'node1', env);
      await eventually(async () => (standInAt(homePid) ? true : undefined), `a stand-in holding PID ${homePid}`, 10_000);
      const { uid } = h.info.guestAccount;
      expect(field(statusOf(homePid)!, 'Uid').split(/\s+/), "the guest's stand-in runs as the guest").to.deep.equal(Array(4).fill(String(uid)));
      // the stand-in outlives its agent, and the next one follows it
      await crashAndRestart(h, 'node0');
      expect(standInAt(homePid), `the stand-in at PID ${homePid} after node0's agent restarted`).to.equal(true);

      const term = await killAtHome('TERM', homePid, h.info.guestAccount);
      expect(term.exitCode, `the guest's kill -TERM ${homePid}: ${term.stderr}`).to.equal(0);
      const result = await run.child;
      expect(run.stdout()).to.match(/caught SIGTERM/);
      expect(result.exitCode, `mosrun exits with the program's status; stderr: ${run.stderr()}`).to.equal(3);
      await eventually(async () => (standInAt(homePid) ? undefined : true), `the stand-in at PID ${homePid} to end with its program`, 10_000);
    } finally {
      await cleanUp(run, id, h.info.guest.token);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
