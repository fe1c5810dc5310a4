import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { FastifyBaseLogger } from 'fastify';
import { type AgentProc, type ControlRequest, GodwitError } from '@godwit/schemas';
import { type Control, createControl } from '../../../agent/src/control.js';
import type { ProcStore } from '../../../agent/src/procs.js';

const quiet = { info: () => undefined, warn: () => undefined } as unknown as FastifyBaseLogger;
const STATE = { nmigs: 0, locked: false, needMemBytes: 0, checkpoints: 0 };

/** polls until check() holds, for the watcher's events */
async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the agent side of a control directory', () => {
  let root: string;
  let control: Control;
  let sent: ControlRequest[];
  let refuseWith: GodwitError | undefined;
  let asked: number;
  const proc: AgentProc = { id: 7, epoch: 0, state: 'running', rootPid: 1, pid: 2, inodes: { in: 1, out: 2, err: 3 } };
  const procs = { current: () => proc, list: () => [proc], dumping: new Set<number>() } as unknown as ProcStore;
  const file = (name: string) => join(root, '7', name);
  const read = (name: string) => readFileSync(file(name), 'utf8');

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'godwit-control-root-'));
    sent = [];
    refuseWith = undefined;
    asked = 0;
    proc.state = 'running';
    control = createControl({
      root, node: 'node0', procs, log: quiet,
      send: async (req) => {
        asked++;
        if (refuseWith) throw refuseWith;
        sent.push(req);
      },
    });
    expect(await control.open(7, { ...STATE, locked: true })).to.equal(join(root, '7'));
  });
  afterEach(() => {
    control.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("leaves a process's directory that a recovered process's view is mounted over, and removes its own", () => {
    // process 7 was checkpointed; process 9, recovered from it on some node, sees its own files at 7's path
    control.ensureMountpoint(join(root, '7'), 9);
    proc.state = 'exited';
    control.sync();
    expect(existsSync(join(root, '7', 'whereami')), "7's directory stays: removing it would detach 9's view (Linux >= 3.18)").to.equal(true);
    control.ensureMountpoint(join(root, '9'), 9);
    expect(existsSync(join(root, '9', '.mounted-over')), 'its own directory is not marked').to.equal(false);
  });

  it('marks another\'s directory without following what its owner put there', () => {
    const target = join(root, 'target');
    writeFileSync(target, 'kept');
    symlinkSync(target, join(root, '7', '.mounted-over'));
    control.ensureMountpoint(join(root, '7'), 9);
    expect(readFileSync(target, 'utf8'), 'the link is not followed').to.equal('kept');
  });

  it('starts with where it runs, no moves, and each request file at rest', () => {
    expect(['whereami', 'nmigs', 'migrate', 'lock', 'needmem'].map(read)).to.deep.equal(['node0\n', '0\n', 'ok node0\n', 'ok 1\n', 'ok 0\n']);
  });

  it('sends what the program writes, once, and writes the answer that comes back', async () => {
    writeFileSync(file('migrate'), 'node1\n');
    await until(() => sent.length === 1, 'the request to be sent');
    expect(sent[0]).to.deep.equal({ processId: 7, kind: 'migrate', value: 'node1' });
    writeFileSync(file('migrate'), 'node2\n');
    await new Promise((r) => setTimeout(r, 300));
    expect(sent, 'one request per file at a time').to.have.length(1);
    await control.update(7, { state: { ...STATE, nmigs: 0 }, answer: { kind: 'migrate', error: 'no node node1; the nodes are: node0' } });
    expect(read('migrate')).to.equal('error: no node node1; the nodes are: node0\n');
    writeFileSync(file('lock'), '0');
    await until(() => sent.length === 2, 'the next request');
    await control.update(7, { state: { ...STATE, nmigs: 3 }, answer: { kind: 'lock' } });
    expect([read('lock'), read('nmigs')]).to.deep.equal(['ok 0\n', '3\n']);
  });

  it('keeps a pending request readable while other state is shown', async () => {
    writeFileSync(file('needmem'), '1G\n');
    await until(() => sent.length === 1, 'the request to be sent');
    await control.update(7, { state: { ...STATE, nmigs: 1 } });
    expect([read('needmem'), read('nmigs')]).to.deep.equal(['1G\n', '1\n']);
  });

  it("ignores its own answers, and refuses a symlink and what the orchestrator will not take", async () => {
    writeFileSync(file('migrate'), 'ok node5\n');
    writeFileSync(join(root, 'target'), 'node1\n');
    rmSync(file('lock'));
    symlinkSync(join(root, 'target'), file('lock'));
    await until(() => read('lock').startsWith('error:'), 'the symlink to be replaced');
    expect(read('lock')).to.match(/^error: lock must be a regular file/);
    refuseWith = new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', 'process 7 is not running on node0 (it is migrating)');
    writeFileSync(file('needmem'), '5M');
    await until(() => read('needmem').startsWith('error:'), 'the refusal');
    expect(read('needmem')).to.equal('error: process 7 is not running on node0 (it is migrating)\n');
    expect(sent, 'nothing was sent').to.deep.equal([]);
    expect(readFileSync(join(root, 'target'), 'utf8'), 'nothing was written through the symlink').to.equal('node1\n');
  });

  it("leaves a request to the node where the program runs once its copy here stopped for a move", async () => {
    proc.state = 'stopped';
    refuseWith = new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', 'process 7 is not running on node0');
    writeFileSync(file('lock'), '1\n');
    await until(() => asked === 1, 'the request to be sent');
    await new Promise((r) => setTimeout(r, 200));
    expect(read('lock'), "the request stays for the destination's answer").to.equal('1\n');
  });

  it("keeps the directories the agent's alone: the root 0711, a process's directory 0700, its files 0600, tightening what an older agent left", async () => {
    const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
    expect([mode(root), mode(join(root, '7')), ...['whereami', 'lock'].map((f) => mode(file(f)))]).to.deep.equal(['711', '700', '600', '600']);
    control.close();
    chmodSync(root, 0o755);
    chmodSync(join(root, '7'), 0o755);
    control = createControl({ root, node: 'node0', procs, log: quiet, send: async () => undefined });
    await control.open(7, STATE);
    expect([mode(root), mode(join(root, '7'))]).to.deep.equal(['711', '700']);
  });

  it('removes the directory of a program that ended here', () => {
    control.remove(7);
    expect(() => read('whereami')).to.throw(/ENOENT/);
  });
});
