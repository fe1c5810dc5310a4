/**
 * Why a program died, as a user asks it: a program that allocates past its node's memory limit
 * is oom-killed in mosps, died.oomKilled in the API, and mosrun says "killed by node2's memory
 * limit (OOM)" and exits 137 as a shell would; so too after a migration brought it there (the
 * restore gets its run's group of its own). A SIGKILL sent by someone on that same node stays
 * killed(SIGKILL). A program whose child node2's limit killed, and which passes that death on
 * after a move to node0 (as a shell's `exit $?` does), was still killed by node2's limit. Node2's memory limit is lowered for the suite (written into its control group,
 * as an administrator would) and put back after. cgroup v1 only (this host's): on v2 no run gets
 * a group of its own (README, Known limits), and the suite is skipped.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Process } from '@godwit/schemas';
import { api, asGuest, cli, cluster, eventually, mosrun, processInfo, program, type Harness, type Run } from './harness.js';

/** holds what each line of its input asks for, in MiB, touched; says so after each */
const GROWER = [
  'import sys',
  'held = []',
  "print('ready', flush=True)",
  'for line in sys.stdin:',
  "    held.append(b'x' * (int(line) << 20))",
  "    print('holding', sum(map(len, held)) >> 20, flush=True)",
].join('\n');
const HEADROOM = 256 << 20;
/** a child that grows until it is killed; then says how it ended, and passes that on (exit 137) at a line of input */
const PARENT = [
  'import os, sys',
  'pid = os.fork()',
  'if pid == 0:',
  '    held = []',
  '    while True:',
  "        held.append(b'x' * (16 << 20))",
  '_, status = os.waitpid(pid, 0)',
  "print('child', f'killed {os.WTERMSIG(status)}' if os.WIFSIGNALED(status) else f'exited {os.WEXITSTATUS(status)}', flush=True)",
  'sys.stdin.readline()',
  'sys.exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else 1)',
].join('\n');

describe('why a program died', function () {
  let h: Harness;
  /** node2's memory group, the file of its limit, and the limit it had */
  let group: string;
  let limitFile: string;
  let before_: string | undefined;
  const runs: Run[] = [];

  before(async function () {
    this.timeout(180_000);
    const root = await cluster();
    h = asGuest(root);
    const found = root.info.nodes[2]!.cgroups.find((d) => existsSync(join(d, 'memory.oom_control')));
    if (found === undefined) this.skip();
    group = found;
    limitFile = join(group, 'memory.limit_in_bytes');
    const usage = Number(readFileSync(join(group, 'memory.usage_in_bytes'), 'utf8'));
    before_ = readFileSync(limitFile, 'utf8').trim();
    writeFileSync(limitFile, String(usage + HEADROOM));
  });
  after(function () {
    if (before_ !== undefined) writeFileSync(limitFile, before_);
  });
  afterEach(async function () {
    this.timeout(60_000);
    for (const r of runs.splice(0)) {
      if (r.child.exitCode === null) {
        const id = await r.id().catch(() => undefined);
        if (id !== undefined) await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
      }
      await r.child;
    }
  });

  function start(args: string[], input = false): Run {
    const run = mosrun(h, args, { input });
    runs.push(run);
    return run;
  }

  /** what mosrun, the API and mosps say of `id` once it ended */
  async function told(run: Run, id: number) {
    const result = await run.child;
    const p = await processInfo(h, id);
    const ps = await cli(h, 'mosps', ['--exited']);
    const row = ps.stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? `(no row for ${id} in: ${ps.stdout})`;
    return { status: result.exitCode, stderr: run.stderr(), p, row };
  }

  function expectOomKilled(t: Awaited<ReturnType<typeof told>>, id: number): void {
    const reason = "killed by node2's memory limit (OOM)";
    expect(t.status, `mosrun's status; stderr: ${t.stderr}`).to.equal(137);
    expect(t.stderr).to.include(`process ${id} ${reason}\n`);
    expect({ state: t.p.state, exitCode: t.p.exitCode, exitSignal: t.p.exitSignal, died: t.p.died }).to.deep.equal({
      state: 'exited', exitCode: null, exitSignal: 'SIGKILL', died: { signal: 'SIGKILL', oomKilled: true, reason },
    });
    expect(t.row).to.match(/\soom-killed\s/);
    const left = readdirSync(group).filter((n) => n.startsWith(`run-${id}.`));
    expect(left, `run groups of process ${id} left in ${group}`).to.deep.equal([]);
  }

  it('says a program that allocates past its node’s memory limit was killed by it: mosps, the API and mosrun', async function () {
    this.timeout(120_000);
    const run = start(['-r', 'node2', '/usr/bin/python3', '-u', '-c', GROWER], true);
    const id = await run.id();
    await run.waitFor(/^ready$/m);
    run.child.stdin!.write(`${(2 * HEADROOM) >> 20}\n`);
    expectOomKilled(await told(run, id), id);
  });

  it('says so of a program a migration brought to that node', async function () {
    this.timeout(180_000);
    const run = start(['-r', 'node0', '/usr/bin/python3', '-u', '-c', GROWER], true);
    const id = await run.id();
    await run.waitFor(/^ready$/m);
    run.child.stdin!.write('16\n');
    await run.waitFor(/^holding 16$/m);
    const mig = await cli(h, 'mosmigrate', [String(id), 'node2']);
    expect(mig.exitCode, `mosmigrate ${id} node2: ${mig.stderr}`).to.equal(0);
    let last: Process | undefined;
    await eventually(async () => {
      last = await processInfo(h, id);
      return last.node === 'node2' && last.state === 'running' ? true : undefined;
    }, () => `process ${id} running on node2; it is ${last ? `${last.state} on ${last.node}` : 'not seen'}`);
    run.child.stdin!.write(`${(2 * HEADROOM) >> 20}\n`);
    expectOomKilled(await told(run, id), id);
  });

  it('says so after a move of a program that passes on the death of its child the limit killed before', async function () {
    this.timeout(180_000);
    const run = start(['-r', 'node2', '/usr/bin/python3', '-u', '-c', PARENT], true);
    const id = await run.id();
    await run.waitFor(/^child (killed|exited) \d+$/m);
    expect(run.stdout(), 'how its child ended on node2').to.match(/^child killed 9$/m);
    const mig = await cli(h, 'mosmigrate', [String(id), 'node0']);
    expect(mig.exitCode, `mosmigrate ${id} node0: ${mig.stderr}`).to.equal(0);
    let last: Process | undefined;
    await eventually(async () => {
      last = await processInfo(h, id);
      return last.node === 'node0' && last.state === 'running' ? true : undefined;
    }, () => `process ${id} running on node0; it is ${last ? `${last.state} on ${last.node}` : 'not seen'}`);
    run.child.stdin!.write('\n');
    expectOomKilled(await told(run, id), id);
  });

  it('names the signal of a program killed on that same node, not its memory limit', async function () {
    this.timeout(120_000);
    const run = start(['-r', 'node2', program('counter'), '600']);
    const id = await run.id();
    await run.waitFor(/^1$/m);
    const sent = await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
    expect(sent.status, JSON.stringify(sent.body)).to.be.oneOf([200, 202, 204]);
    const t = await told(run, id);
    expect(t.status, `mosrun's status; stderr: ${t.stderr}`).to.equal(137);
    expect(t.stderr).to.include(`process ${id} killed by SIGKILL\n`);
    expect(t.p.died).to.deep.equal({ signal: 'SIGKILL', oomKilled: false, reason: 'killed by SIGKILL' });
    expect(t.row).to.match(/\skilled\(SIGKILL\)\s/);
  });
});
