/**
 * LZ4 compression before the seal (agent/src/compression.ts): checkpoints are compressed by
 * default, and show their ratio (API, mosrun -I); a move asked with --compress sends its images,
 * memory included, compressed. Real CRIU, a python program holding 96 MiB of compressible memory
 * and its checksum.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Checkpoint, Process } from '@godwit/schemas';
import { HEADER_BYTES, SEGMENT } from '../../agent/src/at-rest.js';
import { api, cli, cluster, type Harness, mosrun, processInfo, scratchDir } from './harness.js';

/**
 * Holds 96 MiB of records (compressible as a program's heap of objects is), prints their
 * checksum, ticks every 100 ms until a file named stop appears in its directory, then prints the
 * checksum of what it holds then.
 */
const HOLDER = [
  'import hashlib, os, time',
  "data = bytearray(b''.join(b'record %08d: state=running owner=guest next=None\\n' % i for i in range(96 * 1024 * 1024 // 56)))",
  "print('ready', hashlib.sha256(data).hexdigest(), flush=True)",
  'i = 0',
  "while not os.path.exists('stop'):",
  "    print('tick', i, flush=True)",
  '    i += 1',
  '    time.sleep(0.1)',
  "print('result=' + hashlib.sha256(data).hexdigest(), flush=True)",
].join('\n');
const MEMORY = 96 * 1024 * 1024;

describe('compression of checkpoints and moves (LZ4)', function () {
  let h: Harness;
  let dir: string;
  let mine: string;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
    mine = join(h.home, 'checkpoints', h.info.client.user);
  });
  beforeEach(() => {
    dir = scratchDir('godwit-compress-');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a checkpoint of compressible memory is smaller than the memory by the ratio shown, recovers with its memory right, and a byte changed in it is refused with nothing restored', async function () {
    this.timeout(400_000);
    const run = mosrun(h, ['-C', 'lz', 'python3', '-c', HOLDER], { cwd: dir });
    const id = await run.id();
    const [, digest] = (await run.waitFor(/^ready ([0-9a-f]{64})$/m, 120_000)) as RegExpMatchArray;
    await run.waitFor(/^tick 3$/m);
    const taken = await cli(h, 'mosmigrate', [String(id), 'exit']);
    expect(taken.exitCode, taken.stderr).to.equal(0);
    await run.child;

    const file = join(mine, 'lz.1');
    const [ckpt] = (await api<Checkpoint[]>(h, 'GET', `/v1/processes/${id}/checkpoints`)).body;
    expect(ckpt, 'the checkpoint is recorded').to.not.equal(undefined);
    const c = ckpt!;
    expect(statSync(file).size, 'the file is as large as recorded').to.equal(c.bytes);
    expect(c.plainBytes, `it packs the program's ${MEMORY} bytes of records and more`).to.be.above(MEMORY);
    expect(c.compressionRatio, `${c.plainBytes} bytes packed into ${c.bytes}`).to.be.above(3);
    expect(c.bytes, 'smaller than the memory it holds by the ratio shown').to.be.below(MEMORY / 3);
    expect(Math.abs(c.plainBytes / c.bytes - c.compressionRatio), 'the ratio is plainBytes / bytes').to.be.below(0.01);
    const info = await cli(h, 'mosrun', ['-I', 'lz.1']);
    expect(info.exitCode, info.stderr).to.equal(0);
    expect(info.stdout).to.include(`size: ${c.bytes} bytes, compressed from ${c.plainBytes} (ratio ${c.compressionRatio.toFixed(2)})`);

    // a byte changed in the middle of the compressed data: refused by its seal, before any of it is decompressed
    const original = readFileSync(file);
    const middle = HEADER_BYTES + Math.floor((original.length - HEADER_BYTES) / 2);
    const changed = Buffer.from(original);
    changed[middle] = changed[middle]! ^ 0x01;
    writeFileSync(file, changed);
    const runningBefore = (await api<Process[]>(h, 'GET', '/v1/processes')).body.filter((p) => p.state === 'running').length;
    try {
      const r = await cli(h, 'mosrun', ['-r', 'node1', '-R', 'lz.1']);
      expect(r.exitCode, `a changed compressed checkpoint: ${r.stdout}`).to.not.equal(0);
      expect(r.stderr).to.include(`${file} is not a usable checkpoint: its segment ${Math.floor((middle - HEADER_BYTES) / (SEGMENT + 16))} does not verify`);
      expect(r.stderr, 'no stack trace').to.not.match(/\n\s+at /);
      const images = join(h.home, 'nodes', 'node1', 'data', 'images');
      expect(existsSync(images) ? readdirSync(images) : [], 'nothing half restored: no images left on node1').to.deep.equal([]);
      const runningAfter = (await api<Process[]>(h, 'GET', '/v1/processes')).body.filter((p) => p.state === 'running').length;
      expect(runningAfter, 'nothing runs from it').to.equal(runningBefore);
    } finally {
      writeFileSync(file, original);
    }

    const lastTick = Math.max(...[...run.stdout().matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1])));
    // it ends at its next tick once it is back
    writeFileSync(join(dir, 'stop'), '');
    const back = await cli(h, 'mosrun', ['-r', 'node2', '-R', 'lz.1'], { input: '' });
    expect(back.exitCode, `the unchanged checkpoint recovers: ${back.stderr}`).to.equal(0);
    expect(back.stdout, 'its memory came back as it was').to.include(`result=${digest}`);
    expect(back.stdout, `it went on from where it was (tick ${lastTick} or before at the checkpoint)`).to.not.match(/^tick 0$/m);
  });

  it('mosmigrate --compress moves a program, its memory compressed on the way, and it goes on with its memory right', async function () {
    this.timeout(400_000);
    const run = mosrun(h, ['python3', '-c', HOLDER], { cwd: dir });
    const id = await run.id();
    const [, digest] = (await run.waitFor(/^ready ([0-9a-f]{64})$/m, 120_000)) as RegExpMatchArray;
    await run.waitFor(/^tick 2$/m);
    const before = await processInfo(h, id);
    const moved = await cli(h, 'mosmigrate', [String(id), 'node1', '--compress', '--strategy', 'full']);
    expect(moved.exitCode, moved.stderr).to.equal(0);
    const after = await processInfo(h, id);
    expect([after.node, after.state], 'it runs on node1').to.deep.equal(['node1', 'running']);
    expect(after.pid, 'under a new host PID').to.not.equal(before.pid);
    await run.waitFor(new RegExp(`^tick ${Math.max(...[...run.stdout().matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]))) + 3}$`, 'm'));
    writeFileSync(join(dir, 'stop'), '');
    const result = await run.child;
    expect(result.exitCode, run.stderr()).to.equal(0);
    const ticks = [...run.stdout().matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ticks, 'its output went on without a gap').to.deep.equal([...Array(ticks.length).keys()]);
    expect(run.stdout(), 'its memory arrived as it was').to.include(`result=${digest}`);

    const bad = await cli(h, 'mosmigrate', [String(id), 'freeze', '--compress']);
    expect(bad.exitCode, 'a flag that means nothing there is refused').to.equal(2);
    expect(bad.stderr).to.include('--compress go with a move to a node or home');
  });

  it('a program started with --no-compress has its checkpoints written as they are; one asked with --compress is compressed', async function () {
    this.timeout(400_000);
    const loose = await cli(h, 'mosrun', ['--no-compress', 'true']);
    expect(loose.exitCode, 'a choice for checkpoints without -C is refused').to.equal(2);
    expect(loose.stderr).to.include('-N, -A and --compress need -C FILE');

    const run = mosrun(h, ['-C', 'plain', '--no-compress', 'python3', '-c', HOLDER], { cwd: dir });
    const id = await run.id();
    await run.waitFor(/^ready [0-9a-f]{64}$/m, 120_000);
    expect((await processInfo(h, id)).checkpointCompress, 'the choice is recorded').to.equal(false);
    try {
      const asIs = await cli(h, 'mosmigrate', [String(id), 'checkpoint', '--json']);
      expect(asIs.exitCode, asIs.stderr).to.equal(0);
      const first = JSON.parse(asIs.stdout) as Checkpoint;
      expect(first.compressionRatio, `its checkpoint is not compressed (${first.plainBytes} bytes packed into ${first.bytes}: the seal's overhead)`).to.equal(1);
      expect(first.bytes, 'it holds the memory as it is').to.be.above(MEMORY);

      const squeezed = await cli(h, 'mosmigrate', [String(id), 'checkpoint', '--compress', '--json']);
      expect(squeezed.exitCode, squeezed.stderr).to.equal(0);
      const second = JSON.parse(squeezed.stdout) as Checkpoint;
      expect(second.compressionRatio, `asked for this checkpoint: ${second.plainBytes} bytes packed into ${second.bytes}`).to.be.above(3);
      expect(second.path, 'the next file').to.equal(join(mine, 'plain.2'));
    } finally {
      writeFileSync(join(dir, 'stop'), '');
      await run.child;
    }
  });
});
