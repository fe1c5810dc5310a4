import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { encodeFrame, GodwitError, type KeptLayout } from '@godwit/schemas';
import { createKeptOutput, type KeptOutput } from '../../../agent/src/kept-output.js';

const line = (i: number) => encodeFrame('o', Buffer.from(`line ${String(i).padStart(2, '0')}\n`));

describe('kept output (home node)', () => {
  let dir: string;
  let kept: KeptOutput;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-kept-'));
    kept = createKeptOutput(dir, 'node0');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** appends lines from..to-1 one by one, as the orchestrator would, recording each layout */
  function write(from: number, to: number, start: KeptLayout = { logBase: 0, logSize: 0, log1Base: null }, limit = 40): KeptLayout {
    let l = start;
    for (let i = from; i < to; i++) l = kept.append(1, { logBase: l.logBase, logSize: l.logSize, outOffset: i * 8, limit }, line(i));
    return l;
  }
  const text = (l: KeptLayout, from: number, end: number) =>
    kept.read(1, { from, end, logBase: l.logBase, logSize: l.logSize, ...(l.log1Base !== null ? { log1Base: l.log1Base } : {}) })
      .lines.map((x) => Buffer.from(x.data, 'base64').toString()).join('');

  it('keeps two segments at most and reads from the oldest kept offset', () => {
    const l = write(0, 10);
    expect(readdirSync(join(dir, 'kept', '1'))).to.have.length(2);
    const got = text(l, 0, 80);
    expect(got).to.match(/line 09\n$/);
    expect(got.length).to.be.lessThan(80);
    expect(kept.read(1, { from: 0, end: 80, logBase: l.logBase, logSize: l.logSize, log1Base: l.log1Base! }).lines[0]!.offset).to.equal(l.log1Base);
  });

  it('cuts back to the recorded layout: an append never recorded (a new segment too) comes again once', () => {
    const recorded = write(0, 3);
    // appended, starting a new segment, then the orchestrator crashed before recording it
    const lost = write(3, 4, recorded);
    expect(lost.logBase).to.equal(24);
    const l = write(3, 5, recorded);
    expect(text(l, 0, 40)).to.equal('line 00\nline 01\nline 02\nline 03\nline 04\n');
    // and bytes appended to the same segment but never recorded
    const more = write(5, 6, l);
    write(6, 7, more);
    expect(text(write(6, 7, more), 0, 56)).to.equal('line 03\nline 04\nline 05\nline 06\n');
  });

  it('refuses to append after output it does not hold', () => {
    write(0, 2);
    expect(() => kept.append(1, { logBase: 0, logSize: 999, outOffset: 16, limit: 40 }, line(2)))
      .to.throw(GodwitError, /holds 26 bytes of segment 0, but 999 were recorded/);
  });
});
