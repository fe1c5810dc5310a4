/**
 * The process's own interface: a program controls itself through the files of its control
 * directory ($GODWIT_CONTROL), as a MOSIX program does through /proc/self.
 */
import { chmodSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import type { Checkpoint, Event } from '@godwit/schemas';
import { api, cli, cluster, eventually, mosrun, processInfo, program, type Harness } from './harness.js';

const answers = (out: string) => out.split('\n').filter((l) => l.startsWith('checkpoint '));
/** tries to read, then to write, a control file; says which was refused (run as `sh -c TRY sh FILE`) */
const TRY = 'cat "$1" || echo read-refused; echo 0 > "$1" || echo write-refused';
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const modeOf = (path: string) => {
  const st = statSync(path);
  return { uid: st.uid, mode: (st.mode & 0o7777).toString(8) };
};
const ticks = (out: string) => out.split('\n').flatMap((l) => /^tick (\d+)$/.exec(l)?.[1] ?? []).map(Number);

/** runs a command on the host, its stdout and stderr together */
async function attempt(argv: string[]): Promise<string> {
  const res = await execa(argv[0]!, argv.slice(1), { reject: false, all: true, timeout: 30_000 });
  return res.all;
}

describe("the process's own control directory", function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  it('lets a program lock itself, declare memory, be refused a move and run on, then move itself there and home, reading where it is', async function () {
    this.timeout(180_000);
    const run = mosrun(h, [program('selfmigrate.py'), 'node1', 'home']);
    const id = await run.id();
    const before = await processInfo(h, id);
    expect(before.node).to.equal('node0');
    await run.waitFor(/^start whereami=node0 nmigs=0 lock=ok 0$/m);

    await run.waitFor(/^lock -> ok 1$/m);
    expect((await processInfo(h, id)).locked, 'lock 1 is mosrun -L').to.equal(true);
    await run.waitFor(/^needmem -> ok 67108864$/m);
    expect((await processInfo(h, id)).needMemBytes, 'needmem 64M').to.equal(64 * 2 ** 20);
    await run.waitFor(/^checkpoint -> ok 1$/m);
    const [taken] = (await api<Checkpoint[]>(h, 'GET', `/v1/processes/${id}/checkpoints`)).body;
    expect([taken?.number, taken?.node, existsSync(taken?.path ?? '')], 'its checkpoint is recorded and on disk').to.deep.equal([1, 'node0', true]);

    const [, refusal] = await run.waitFor(/^refused -> (.*)$/m);
    expect(refusal, 'an unknown node is refused, naming the known ones').to.match(/^error: no node nosuchnode; the nodes are: node0, node1, node2/);
    const stayed = await processInfo(h, id);
    expect([stayed.node, stayed.nmigs, stayed.pid], 'it runs on where it was').to.deep.equal(['node0', 0, before.pid]);
    const afterRefusal = Math.max(...ticks(run.stdout()));
    await run.waitFor(new RegExp(`^tick ${afterRefusal + 2}$`, 'm'));

    await run.waitFor(/^migrate node1 -> ok node1$/m);
    await run.waitFor(/^whereami=node1 nmigs=1$/m);
    const moved = await processInfo(h, id);
    expect([moved.node, moved.nmigs], 'the orchestrator agrees').to.deep.equal(['node1', 1]);
    const ps = await cli(h, 'mosps', ['--json']);
    const row = (JSON.parse(ps.stdout) as { id: number; node: string; nmigs: number; pid: number | null }[]).find((p) => p.id === id);
    expect([row?.node, row?.nmigs], `mosps --json: ${ps.stdout}`).to.deep.equal(['node1', 1]);
    expect(row?.pid, 'a new host PID on node1').to.be.a('number').and.not.equal(before.pid);

    // home: back to the node whose agent watched it before
    await run.waitFor(/^migrate home -> ok node0$/m);
    await run.waitFor(/^whereami=node0 nmigs=2$/m);
    const result = await run.child;
    expect(result.exitCode, `its exit status arrives; stderr: ${run.stderr()}`).to.equal(3);
    const seen = ticks(run.stdout());
    expect(seen, 'every tick once, in order, across both moves').to.deep.equal(Array.from({ length: seen.length }, (_, i) => i + 1));
    expect(run.stdout()).to.match(/^result=at node0 after 2 move\(s\)$/m);
    expect((await processInfo(h, id)).nmigs).to.equal(2);

    const controlDir = join(h.info.controlDir, String(id));
    await eventually(async () => (existsSync(controlDir) ? undefined : true), `${controlDir} removed once the process ended`, 10_000);
    const events = await api<Event[]>(h, 'GET', `/v1/events?process=${id}`);
    expect(events.body.filter((e) => e.kind === 'control').map((e) => e.message), 'each request is an event').to.have.length(6);
  });

  it("keeps a program's control files its own: another program, or anyone on the host outside its tree, is refused", async function () {
    this.timeout(180_000);
    // it locks itself, waits for a line, then unlocks itself: its own requests work as before
    const script = [
      'f="$GODWIT_CONTROL/lock"',
      'echo 1 > "$f"', 'until grep -qx "ok 1" "$f"; do sleep 0.05; done', 'echo locked',
      'read go',
      'echo 0 > "$f"', 'until grep -qx "ok 0" "$f"; do sleep 0.05; done', 'echo unlocked',
    ].join('\n');
    const run = mosrun(h, ['sh', '-c', script], { input: true });
    const id = await run.id();
    await run.waitFor(/^locked$/m);
    const { pid } = await processInfo(h, id);
    const root = h.info.controlDir;
    const backing = join(root, String(id));
    const view = `/proc/${pid}/root${backing}`;
    const owner = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

    expect([modeOf(root), modeOf(backing), modeOf(join(backing, 'lock'))], 'the agent keeps the directories root\'s alone').to.deep.equal([
      { uid: 0, mode: '711' }, { uid: 0, mode: '700' }, { uid: 0, mode: '600' },
    ]);
    expect([modeOf(view), modeOf(`${view}/lock`)], "the program's view is its owner's alone").to.deep.equal([
      { uid: owner, mode: '700' }, { uid: owner, mode: '600' },
    ]);

    const other = mosrun(h, [...NOBODY, 'sh', '-c', TRY, 'sh', join(backing, 'lock')]);
    const attacks = {
      'another program, as nobody, through the shared tree': await other.child.then(() => other.stdout() + other.stderr()),
      'nobody on the host, through the shared tree': await attempt([...NOBODY, 'sh', '-c', TRY, 'sh', join(backing, 'lock')]),
      "nobody on the host, through /proc/PID/root": await attempt([...NOBODY, 'sh', '-c', TRY, 'sh', `${view}/lock`]),
      "root in another PID namespace, through /proc/PID/root": await attempt(['unshare', '--pid', '--fork', 'sh', '-c', TRY, 'sh', `${view}/lock`]),
    };
    for (const [who, out] of Object.entries(attacks)) {
      expect(out, `${who}: ${out}`).to.match(/Permission denied/).and.match(/read-refused/).and.match(/write-refused/).and.not.match(/ok 1/);
    }
    expect(readFileSync(join(backing, 'lock'), 'utf8'), 'its lock file is unchanged').to.equal('ok 1\n');
    expect((await processInfo(h, id)).locked).to.equal(true);

    // its own next request is taken, and it is the only one after its first
    run.child.stdin!.write('go\n');
    await run.waitFor(/^unlocked$/m);
    run.child.stdin!.end();
    expect((await run.child).exitCode, `stderr: ${run.stderr()}`).to.equal(0);
    const events = await api<Event[]>(h, 'GET', `/v1/events?process=${id}`);
    expect(events.body.filter((e) => e.kind === 'control').map((e) => e.message), 'its own two requests, nobody else\'s').to.have.length(2);
  });

  it('lets a program checkpoint itself: its write returns once the checkpoint is taken; recovered from one, it goes on just after that write, in a control directory of its own', async function () {
    this.timeout(180_000);
    const name = `self${Date.now()}`;
    const files = [1, 2, 3].map((n) => join(h.home, 'checkpoints', h.info.client.user, `${name}.${n}`));
    try {
      const run = mosrun(h, ['-C', name, program('selfcheckpoint.py'), '3']);
      const first = await run.child;
      expect(first.exitCode, `stderr: ${run.stderr()}`).to.equal(0);
      // one read right after each write: the answer is there, not the pending request
      expect(answers(run.stdout()), run.stdout()).to.deep.equal([1, 2, 3].map((n) => `checkpoint ${n} -> ok ${n} at node0`));
      expect(files.map((f) => existsSync(f)), 'its three checkpoints').to.deep.equal([true, true, true]);

      const back = mosrun(h, ['-r', 'node1', '-R', `${name}.2`, '--rollback-files']);
      const again = await back.child;
      expect(again.exitCode, `stderr: ${back.stderr()}`).to.equal(0);
      const lines = answers(back.stdout());
      expect(lines, `it resumes after its second write, on node1, and reads its own control files: ${back.stdout()}`).to.have.length(2);
      expect(lines[0]).to.match(/^checkpoint 2 -> ok \d+ at node1$/);
      expect(lines[1]).to.match(/^checkpoint 3 -> ok [1-9]\d* at node1$/);
      expect(back.stdout()).to.match(/^result=done$/m);
    } finally {
      for (const f of files) rmSync(f, { force: true });
    }
  });
});

