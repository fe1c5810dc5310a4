/**
 * MOSIX's checkpoints: mosrun -C/-N/-A writes FILE.1, FILE.2, ... in rotation, mosmigrate takes
 * one by hand (checkpoint, checkstop, exit), and mosrun -R brings a program back from one on any
 * node, with the files it was writing in its own directory as they were then; a file outside
 * that changed stops the recovery with its name, unless the user remaps it (-O) or accepts it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import type { Checkpoint, Event, Process } from '@godwit/schemas';
import { stopComponent } from '../../cli/src/cluster/index.js';
import { HEADER_BYTES, MAGIC, NOT_RECORDED, opened, SEGMENT } from '../../agent/src/at-rest.js';
import { api, asGuest, cli, cluster, crashAndRestart, debuggerOn, eventually, guestDir, type Harness, mosrun, numbersIn, oneTo, processInfo, program, scratchDir } from './harness.js';

const flipped = (bytes: Buffer, at: number) => {
  const copy = Buffer.from(bytes);
  copy.writeUInt8(copy.readUInt8(at) ^ 0x01, at);
  return copy;
};
/** logcount's last line: the sum of 1..n and how many lines its log holds */
const resultOf = (n: number) => new RegExp(`^result=sum ${(n * (n + 1)) / 2} log-lines ${n}$`, 'm');

describe('checkpoints and recovery', function () {
  let h: Harness;
  let dir: string;
  let mine: string;
  /** a checkpoint file's id, as godwit records it: the SHA-256 of its sealed header */
  let macOf: (file: string) => string;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
    mine = join(h.home, 'checkpoints', h.info.client.user);
    macOf = (file) => {
      const header = readFileSync(file).subarray(0, HEADER_BYTES);
      expect(header.subarray(0, MAGIC.length).toString('latin1'), `${file} is sealed`).to.equal(MAGIC.toString('latin1'));
      return createHash('sha256').update(header).digest('hex');
    };
  });
  beforeEach(() => {
    dir = scratchDir('godwit-ckpt-');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function checkpoints(id: number): Promise<Checkpoint[]> {
    const res = await api<Checkpoint[]>(h, 'GET', `/v1/processes/${id}/checkpoints`);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body;
  }

  it('-C/-N/-A keeps exactly N files in rotation (0600), each recorded with its MAC; checkstop freezes it and it goes on without a gap', async function () {
    this.timeout(300_000);
    const run = mosrun(h, ['-C', 'rot', '-N', '3', '-A', '0.02', program('logcount'), '150'], { cwd: dir });
    const id = await run.id();
    await eventually(async () => ((await processInfo(h, id)).checkpoints >= 5 ? true : undefined), () => `5 automatic checkpoints; output so far ${run.stdout().slice(-100)}`, 120_000);

    const stop = await cli(h, 'mosmigrate', [String(id), 'checkstop']);
    expect(stop.exitCode, stop.stderr).to.equal(0);
    expect(stop.stdout).to.match(new RegExp(`process ${id} checkpointed to ${mine}/rot\\.[123] \\(checkpoint \\d+, \\d+ bytes, stopped \\d+ ms\\); it is frozen`));
    const frozen = await processInfo(h, id);
    expect([frozen.state, frozen.frz]).to.deep.equal(['frozen', 'M']);

    const files = readdirSync(mine).filter((f) => f.startsWith('rot')).sort();
    expect(files, 'extensions .1 to .3 only, nothing half written').to.deep.equal(['rot.1', 'rot.2', 'rot.3']);
    const recorded = await checkpoints(id);
    expect(recorded.map((c) => c.path).sort()).to.deep.equal(files.map((f) => join(mine, f)));
    const last = frozen.checkpoints;
    expect(recorded.map((c) => c.number).sort((a, b) => a - b), 'the newest three numbers').to.deep.equal([last - 2, last - 1, last]);
    for (const c of recorded) {
      expect(c.path, 'number N lives in extension ((N-1) mod 3) + 1').to.equal(join(mine, `rot.${((c.number - 1) % 3) + 1}`));
      expect(macOf(c.path), `${c.path} is what was recorded`).to.equal(c.mac);
      expect(statSync(c.path).mode & 0o777, `${c.path} is root's alone`).to.equal(0o600);
      expect(c.files.map((f) => [f.path, f.saved])).to.deep.include([join(dir, 'progress.log'), true]);
    }

    const cont = await cli(h, 'mosmigrate', [String(id), 'continue', 'node1']);
    expect(cont.exitCode, cont.stderr).to.equal(0);
    const result = await run.child;
    expect(result.exitCode, run.stderr()).to.equal(0);
    expect(numbersIn(run.stdout()), 'checkpoints and the freeze lose and repeat nothing').to.deep.equal(oneTo(150));
    expect(run.stdout()).to.match(resultOf(150));
  });

  it('refuses to checkpoint what CRIU cannot dump (it runs on); recovers on another node after the original was killed, its log as it was at the checkpoint; a changed outside file is refused by name, then accepted or remapped', async function () {
    this.timeout(300_000);
    // long enough to be still running after the CLI calls before its checkpoint on a loaded machine
    const LINES = 150;
    const outside = join(dir, '..', `${dir.split('/').pop()}-outside.txt`);
    writeFileSync(outside, 'input\n');
    try {
      const run = mosrun(h, ['-C', 'rec', program('logcount'), String(LINES), outside], { cwd: dir });
      const id = await run.id();
      await run.waitFor(/^5$/m);
      const tracer = await debuggerOn((await processInfo(h, id)).pid!);
      try {
        const refused = await cli(h, 'mosmigrate', [String(id), 'checkpoint']);
        expect(refused.exitCode).to.not.equal(0);
        expect(refused.stderr).to.match(new RegExp(`process ${id} cannot be checkpointed: .*being traced.*; it runs on`));
      } finally {
        await tracer.stop();
      }
      expect((await processInfo(h, id)).checkpoints, 'a refused checkpoint is no checkpoint').to.equal(0);
      await run.waitFor(/^10$/m);
      const before = Math.max(...numbersIn(run.stdout()));
      const taken = await cli(h, 'mosmigrate', [String(id), 'checkpoint']);
      expect(taken.exitCode, taken.stderr).to.equal(0);
      expect(taken.stdout).to.match(/it runs on/);
      const after = Math.max(...numbersIn(run.stdout()));
      await run.waitFor(new RegExp(`^${after + 10}$`, 'm'));
      expect((await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' })).status).to.equal(204);
      expect((await run.child).exitCode).to.equal(128 + 9);

      const info = await cli(h, 'mosrun', ['-I', 'rec.1']);
      expect(info.exitCode, info.stderr).to.equal(0);
      expect(info.stdout).to.match(new RegExp(`File-Descriptor #3: ${dir}/progress\\.log, offset=\\d+, Write, Append, \\d+ bytes then, \\d+ bytes now \\(saved with the checkpoint`));
      expect(info.stdout).to.match(new RegExp(`File-Descriptor #4: ${outside}, offset=0, Read, 6 bytes then, unchanged`));

      const back = mosrun(h, ['-r', 'node1', '-R', 'rec.1', '--rollback-files'], { cwd: dir });
      const rid = await back.id();
      expect((await processInfo(h, rid)).node).to.equal('node1');
      expect((await back.child).exitCode, back.stderr()).to.equal(0);
      const resumed = numbersIn(back.stdout());
      expect(resumed[0], `it goes on from the checkpoint (taken between ${before} and ${after}), not from the start`).to.be.within(before, after + 1);
      expect(resumed).to.deep.equal(oneTo(LINES).slice(resumed[0]! - 1));
      expect(back.stdout(), 'its log came back as it was, then grew to all its lines').to.match(resultOf(LINES));
      const events = (await api<Event[]>(h, 'GET', `/v1/events?process=${rid}`)).body;
      expect(events.map((e) => e.message).join('\n')).to.match(new RegExp(`recovered on node1 .* from ${mine}/rec\\.1 \\(process ${id}, checkpointed on node0`));

      appendFileSync(outside, 'more\n');
      const refused = await cli(h, 'mosrun', ['-r', 'node2', '-R', 'rec.1', '--rollback-files']);
      expect(refused.exitCode).to.not.equal(0);
      expect(refused.stderr).to.include(`${outside} (fd 4): 6 bytes at the checkpoint, 11 bytes now`);
      expect(refused.stderr).to.match(/-O FD=FILE.*--accept-changed/);
      expect(refused.stderr, 'no stack trace').to.not.match(/\n\s+at /);

      const accepted = await cli(h, 'mosrun', ['-r', 'node2', '-R', 'rec.1', '--accept-changed', '--rollback-files']);
      expect(accepted.exitCode, accepted.stderr).to.equal(0);
      expect(accepted.stdout).to.match(resultOf(LINES));

      const other = join(dir, 'other.txt');
      writeFileSync(other, 'another input\n');
      const remapped = await cli(h, 'mosrun', ['-R', 'rec.1', '-O', `4=${other}`, '--rollback-files']);
      expect(remapped.exitCode, remapped.stderr).to.equal(0);
      expect(remapped.stdout).to.match(resultOf(LINES));
    } finally {
      rmSync(outside, { force: true });
    }
  });

  it('exit ends the program after its checkpoint; an agent killed during a checkpoint leaves the previous one whole and the program running', async function () {
    this.timeout(300_000);
    const run = mosrun(h, ['-C', 'big', program('bin/memcheck'), '256'], { cwd: dir, input: true });
    const id = await run.id();
    const ready = (await run.waitFor(/^ready ([0-9a-f]+)$/m))[1]!;
    const first = await cli(h, 'mosmigrate', [String(id), 'checkpoint']);
    expect(first.exitCode, first.stderr).to.equal(0);
    const [one] = await checkpoints(id);

    // the second checkpoint is written beside the first's name until it is complete: kill the
    // agent while it is being written
    const second = api(h, 'POST', `/v1/processes/${id}/checkpoint`, {});
    await eventually(async () => (existsSync(join(mine, 'big.2.partial')) ? true : undefined), 'big.2.partial to be written', 60_000);
    await stopComponent({ home: h.home, name: 'node0', signal: 'SIGKILL' });
    expect((await second).status, 'the checkpoint that was cut short is an error').to.not.equal(200);
    await crashAndRestart(h, 'node0');
    expect(macOf(one!.path), 'the previous checkpoint is untouched').to.equal(one!.mac);
    run.child.stdin!.write('how is it?\n');
    await run.waitFor(new RegExp(`^sum ${ready}$`, 'm'), 60_000);
    expect(existsSync(join(mine, 'big.2.partial')), 'the restarted agent removed the half-written file').to.equal(false);

    const exit = await cli(h, 'mosmigrate', [String(id), 'exit']);
    expect(exit.exitCode, exit.stderr).to.equal(0);
    expect(exit.stdout).to.match(/checkpointed to .*big\.2 .*it has ended/);
    expect((await run.child).exitCode, 'ended after its checkpoint, as asked: no crash').to.equal(75);
    expect(run.stderr()).to.include(`process ${id} was checkpointed to ${join(mine, 'big.2')} and ended there`);
    const back = await cli(h, 'mosrun', ['-r', 'node2', '-R', 'big.2'], { input: '' });
    expect(back.exitCode, back.stderr).to.equal(0);
    expect(back.stdout, 'its 256 MiB came back intact').to.match(/^intact$/m);
  });

  it('refuses a checkpoint with a byte changed, cut short, or not sealed at all, and a file godwit has no record of; the same checkpoint unchanged recovers', async function () {
    this.timeout(300_000);
    const run = mosrun(h, ['-C', 'mac', program('logcount'), '150'], { cwd: dir });
    const id = await run.id();
    await run.waitFor(/^5$/m);
    // checkpointed and ended at once: a kill after a checkpoint could come after its 4 s were over
    const taken = await cli(h, 'mosmigrate', [String(id), 'exit']);
    expect(taken.exitCode, taken.stderr).to.equal(0);
    await run.child;
    const file = join(mine, 'mac.1');
    const original = readFileSync(file);
    const middle = HEADER_BYTES + Math.floor((original.length - HEADER_BYTES) / 2);
    const changed = `does not verify: it was changed, moved, or put there from another file`;
    const unusable = `${file} is not a usable checkpoint:`;
    const refused = async (what: string, bytes: Buffer, why: string, name = 'mac.1') => {
      writeFileSync(join(mine, name), bytes);
      const r = await cli(h, 'mosrun', ['-r', 'node1', '-R', name, '--rollback-files']);
      expect(r.exitCode, `${what}: ${r.stdout}`).to.not.equal(0);
      expect(r.stderr, what).to.include(why);
      expect(r.stderr, `${what}: no stack trace`).to.not.match(/\n\s+at /);
    };
    try {
      await refused('a byte in the middle changed', flipped(original, middle), `${unusable} its segment ${Math.floor((middle - HEADER_BYTES) / (SEGMENT + 16))} ${changed}`);
      await refused('its last byte cut off', original.subarray(0, -1), changed);
      await refused('random bytes of its size', randomBytes(original.length), `${unusable} it is not a file godwit sealed`);
      await refused('a copy under a name godwit never wrote', original, `godwit has no record of ${join(mine, 'copy.1')}`, 'copy.1');
      const info = await cli(h, 'mosrun', ['-I', 'copy.1']);
      expect(info.exitCode, 'mosrun -I describes only what godwit recorded').to.not.equal(0);
      expect(info.stderr).to.include(`godwit has no record of ${join(mine, 'copy.1')}`);
    } finally {
      rmSync(join(mine, 'copy.1'), { force: true });
      writeFileSync(file, original);
    }
    const back = await cli(h, 'mosrun', ['-r', 'node2', '-R', 'mac.1', '--rollback-files'], { input: '' });
    expect(back.exitCode, `the unchanged checkpoint recovers, the refusals left the cluster working: ${back.stderr}`).to.equal(0);
    expect(back.stdout).to.match(resultOf(150));
    const images = join(h.home, 'nodes', 'node1', 'data', 'images');
    expect(existsSync(images) ? readdirSync(images) : [], 'the refused recoveries left no images on node1').to.deep.equal([]);
  });

  it("holds none of the program's memory in clear on disk; another user's checkpoint copied over one's own is refused either way, and nothing runs from it", async function () {
    this.timeout(300_000);
    const tag = randomBytes(8).toString('hex');
    // the marker is made in the program's memory: its command line holds only the tag
    const marker = `GODWIT-AT-REST-${tag}`;
    const HOLD = "import sys, time\nsecret = ('GODWIT-AT-REST-' + sys.argv[1]) * 64\nprint('ready', flush=True)\nwhile True:\n    time.sleep(0.1)\n";
    const guest = asGuest(h);
    const theirs = join(h.home, 'checkpoints', h.info.guest.user);
    const work = guestDir(h, 'godwit-at-rest-');
    const running = async (as: Harness) => (await api<Process[]>(as, 'GET', '/v1/processes')).body.filter((p) => p.state === 'running').map((p) => p.id);
    const checkpointAndEnd = async (as: Harness, name: string, cwd: string) => {
      const run = mosrun(as, ['-C', name, 'python3', '-c', HOLD, tag], { cwd });
      const id = await run.id();
      await run.waitFor(/^ready$/m);
      const taken = await cli(as, 'mosmigrate', [String(id), 'exit']);
      expect(taken.exitCode, taken.stderr).to.equal(0);
      await run.child;
    };
    try {
      await checkpointAndEnd(h, 'secret', dir);
      await checkpointAndEnd(guest, 'theirs', work);
      const file = join(mine, 'secret.1');
      const onDisk = readFileSync(file);
      expect(onDisk.includes(Buffer.from(marker)), `the marker the program held in memory is in ${file} in clear`).to.equal(false);
      // what the grep would have found: the marker is in the checkpoint, sealed
      const key = readFileSync(join(h.home, 'cluster.key'));
      const plain: Buffer[] = [];
      for await (const c of opened(Readable.from([onDisk]), { key, context: `checkpoint ${h.info.client.user}/secret.1` }, macOf(file), (why) => new Error(why))) plain.push(c);
      expect(Buffer.concat(plain).includes(Buffer.from(marker)), 'the marker is in the checkpoint once opened with the cluster key').to.equal(true);

      const guestFile = join(theirs, 'theirs.1');
      const guestBytes = readFileSync(guestFile);
      // the guest's checkpoint put in the user's place, and the user's (holding the secret) in the guest's
      const swaps: [string, Harness, string, string, Buffer][] = [
        ["the guest's checkpoint over the user's", h, file, 'secret.1', guestBytes],
        ["the user's checkpoint over the guest's", guest, guestFile, 'theirs.1', onDisk],
      ];
      for (const [what, as, path, name, bytes] of swaps) {
        const before = readFileSync(path);
        writeFileSync(path, bytes);
        try {
          const r = await cli(as, 'mosrun', ['-R', name, '--rollback-files'], { input: '' });
          expect(r.exitCode, `${what}: ${r.stdout}`).to.not.equal(0);
          expect(r.stderr, what).to.include(`${path} is not a usable checkpoint: ${NOT_RECORDED}`);
          expect(r.stdout + r.stderr, `${what}: nothing of the program ran`).to.not.include('ready');
          expect(await running(as), `${what}: nothing runs`).to.deep.equal([]);
        } finally {
          writeFileSync(path, before);
        }
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
