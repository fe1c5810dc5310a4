/**
 * The run's own memory group, with the real keeper, a real program and the kernel's OOM killer:
 * a program that allocates past its node's memory limit is reported with the OOM kill counted in
 * its run's leaf group, one ended by a signal with none, and the leaf is gone after either. The
 * node is a memory group of the test's own with a small limit (cgroup v1, which this host has;
 * skipped without it). Needs root.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { readEvents, startKeeper, type KeeperEvent } from '../../../agent/src/keeper.js';
import { runCgroup } from '../../../agent/src/run-cgroup.js';
import { waitFor } from '../../../agent/src/wait.js';

const KEEPER = join(import.meta.dirname, '..', '..', '..', 'agent', 'keeper', 'godwit-keeper');
const NOBODY = 65534;
const MEMORY_V1 = '/sys/fs/cgroup/memory';
const LIMIT = 64 << 20;

describe("the keeper's count of a program's OOM kills", function () {
  this.timeout(60_000);
  let top: string;
  let dir: string;
  let node: string;
  before(function () {
    if (process.getuid?.() !== 0 || !existsSync(join(MEMORY_V1, 'memory.limit_in_bytes'))) this.skip();
    node = join(MEMORY_V1, `godwit-unit-whydied-${process.pid}`);
    mkdirSync(node);
    writeFileSync(join(node, 'memory.limit_in_bytes'), String(LIMIT));
  });
  after(async function () {
    // a memory group whose last task is still being torn down is busy for a moment: retried,
    // with what was left said if it never goes
    if (!node) return;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const left = existsSync(node) ? readdirSync(node, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [];
      try {
        for (const leaf of left) rmdirSync(join(node, leaf));
        if (existsSync(node)) rmdirSync(node);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > deadline) throw new Error(`cannot remove ${node} (leaves ${left.join(', ') || 'none'}): ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'godwit-keeper-oom-'));
    chmodSync(top, 0o755);
    dir = join(top, 'proc');
    mkdirSync(dir, { mode: 0o700 });
  });
  afterEach(() => rmSync(top, { recursive: true, force: true }));

  async function run(argv: string[], epoch: number, whileRunning: (init: number) => void = () => {}): Promise<KeeperEvent> {
    const ev = await startKeeper(
      {
        keeperPath: KEEPER, dir, epoch, user: `${NOBODY} ${NOBODY} `, env: { PATH: '/usr/bin:/bin' }, cgroups: [node],
        runCgroup: runCgroup([node], 7, epoch), spoolBytes: 1 << 20,
        mode: { launch: { cwd: '/', argv, env: { PATH: '/usr/bin:/bin' }, init: '/usr/bin/tini' } },
      },
      10_000,
    );
    expect(ev.ev, JSON.stringify(ev)).to.equal('started');
    if (ev.ev === 'started') whileRunning(ev.pid);
    return waitFor(() => readEvents(dir, epoch).find((e) => e.ev === 'exited'), { timeoutMs: 30_000, what: 'the program to end', seen: () => JSON.stringify(readEvents(dir, epoch)) });
  }

  it('names the leaf per process and epoch under the node group that limits memory', () => {
    expect(runCgroup(['/nowhere/cpu/n', node], 7, 2)).to.equal(join(node, 'run-7.2'));
    expect(runCgroup(['/nowhere/cpu/n'], 7, 2)).to.equal(undefined);
  });

  it('counts the OOM kill of a program that allocates past its node’s limit, and removes the leaf', async () => {
    // 256 MiB of touched memory (a string repeated), four times the node's limit
    const exited = await run(['/usr/bin/python3', '-c', "s = 'a' * (256 << 20); print(len(s))"], 0);
    expect(exited, 'tini passes on its child’s SIGKILL as 137').to.include({ ev: 'exited', code: 137, signal: 0 });
    expect((exited as { oomKills?: number }).oomKills, JSON.stringify(exited)).to.be.at.least(1);
    expect(existsSync(join(node, 'run-7.0')), 'the leaf after the run').to.equal(false);
  });

  it('counts none for a program ended by a signal, in a leaf of its own epoch', async () => {
    const exited = await run(['sleep', '60'], 1, (init) => process.kill(init, 'SIGTERM'));
    expect(exited).to.deep.equal({ ev: 'exited', code: 143, signal: 0, oomKills: 0 });
    expect(existsSync(join(node, 'run-7.1')), 'the leaf after the run').to.equal(false);
  });
});
