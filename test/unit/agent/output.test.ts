/**
 * The agent's reader of a running program's output across its keeper's segments (real files, as
 * the keeper lays them out: DIR/out.EPOCH.START): from any offset, in order, following a segment
 * begun while it waits, to the exit frame; an offset whose segment was removed as taken is refused
 * at once with a clear error.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { encodeFrame, FrameDecoder, GodwitError, type Frame } from '@godwit/schemas';
import { epochOutput, segmentHolding, type EpochStream } from '../../../agent/src/output.js';
import { outputSegmentPath, outputSegments } from '../../../agent/src/keeper.js';

const EPOCH = 3;
const out = (text: string) => encodeFrame('o', Buffer.from(text));
const exit = encodeFrame('x', Buffer.from(JSON.stringify({ code: 0, signal: 0, oomKills: 0 })));

describe("the running node's output segments", () => {
  let dir: string;
  let abort: AbortController;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-output-'));
    abort = new AbortController();
  });
  afterEach(() => {
    abort.abort();
    rmSync(dir, { recursive: true, force: true });
  });

  /** writes segments as the keeper would, each starting where the one before ends; returns the starts */
  function segments(...contents: Buffer[][]): number[] {
    let start = 0;
    return contents.map((frames) => {
      const data = Buffer.concat(frames);
      writeFileSync(outputSegmentPath(dir, EPOCH, start), data);
      const at = start;
      start += data.length;
      return at;
    });
  }

  function stream(offset: number): EpochStream {
    return { dir, epoch: EPOCH, offset, what: `the output of epoch ${EPOCH}`, endedByDump: async () => false, signal: abort.signal };
  }

  async function read(offset: number): Promise<Frame[]> {
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    for await (const chunk of epochOutput(stream(offset))) frames.push(...decoder.push(chunk));
    return frames;
  }
  const texts = (frames: Frame[]) => frames.map((f) => (f.type === 'x' ? 'exit' : f.data.toString()));

  it('finds the segment holding an offset: the last to start at or below it', () => {
    expect(segmentHolding([0, 100, 250], 0, 'it')).to.equal(0);
    expect(segmentHolding([0, 100, 250], 99, 'it')).to.equal(0);
    expect(segmentHolding([0, 100, 250], 100, 'it')).to.equal(100);
    expect(segmentHolding([0, 100, 250], 10_000, 'it')).to.equal(250);
    expect(() => segmentHolding([100, 250], 40, 'the output of process 7')).to.throw(
      GodwitError,
      'the output of process 7 is kept here from offset 100 on: what lies before was stored for good and removed, so offset 40 is no longer here',
    );
    expect(() => segmentHolding([], 0, 'the output of process 7')).to.throw(GodwitError, 'the output of process 7 has no output file here');
  });

  it('lists the segments in the order of their offsets, none of another epoch', () => {
    segments([out('a')], [out('b')], [out('c')]);
    writeFileSync(join(dir, `out.${EPOCH + 1}.0`), out('other'));
    writeFileSync(join(dir, `out.${EPOCH}.tmp`), '');
    expect(outputSegments(dir, EPOCH)).to.deep.equal([0, 6, 12]);
  });

  it('reads across every segment from the start, and from an offset inside a later one', async () => {
    const [, second] = segments([out('one'), out('two')], [out('three'), out('four')], [out('five'), exit]);
    expect(texts(await read(0))).to.deep.equal(['one', 'two', 'three', 'four', 'five', 'exit']);
    const fourAt = second! + out('three').length;
    expect(texts(await read(fourAt))).to.deep.equal(['four', 'five', 'exit']);
  });

  it('refuses, before any byte, an offset whose segment was removed as taken', () => {
    const [, second] = segments([out('one')], [out('two'), exit]);
    rmSync(outputSegmentPath(dir, EPOCH, 0));
    expect(() => epochOutput(stream(0))).to.throw(GodwitError, `kept here from offset ${second} on`);
  });

  it('follows the segment written and the next one the keeper begins, to the exit', async () => {
    segments([out('first')]);
    const next = out('first').length + out('second').length;
    // each write comes once the reader has handed on all there was before it
    const keeperWrites = [
      () => appendFileSync(outputSegmentPath(dir, EPOCH, 0), out('second')),
      () => writeFileSync(outputSegmentPath(dir, EPOCH, next), Buffer.concat([out('third'), exit])),
    ];
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    for await (const chunk of epochOutput(stream(0))) {
      frames.push(...decoder.push(chunk));
      keeperWrites.shift()?.();
    }
    expect(texts(frames)).to.deep.equal(['first', 'second', 'third', 'exit']);
  });
});
