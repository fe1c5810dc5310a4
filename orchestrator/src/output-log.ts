/**
 * The kept output of each process: <dataDir>/output/<id>.log holds 'o'/'e' frames (and a last
 * 'x' frame once it exited), the same framing as the agents use. Offsets count payload bytes
 * across the whole output. The database says how far each file is valid (log_size), so a
 * write cut short by a crash is cut off again on the next start.
 */
import { closeSync, mkdirSync, openSync, readSync, renameSync, statSync, truncateSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { FRAME_HEADER } from '@godwit/schemas';
import type { Db, ProcessRow } from './db.js';

export interface LogPaths {
  cur: string;
  old: string;
}

export function logPaths(dataDir: string, id: number): LogPaths {
  const cur = join(dataDir, 'output', `${id}.log`);
  return { cur, old: `${cur}.1` };
}

export function ensureOutputDir(dataDir: string): void {
  mkdirSync(join(dataDir, 'output'), { recursive: true });
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

/** Makes the files agree with the database after an unclean stop. */
export function recoverLog(dataDir: string, db: Db, row: ProcessRow): void {
  const p = logPaths(dataDir, row.id);
  const cur = sizeOf(p.cur);
  if (cur < row.log_size && row.log_size > 0 && sizeOf(p.old) === row.log_size) {
    // stopped between renaming <id>.log to .1 and recording it
    db.q.setLogRotated.run({ id: row.id, log1_base: row.log_base, log_base: row.out_offset, log_size: 0 });
    if (cur > 0) truncateSync(p.cur, 0);
    return;
  }
  if (cur > row.log_size) truncateSync(p.cur, row.log_size);
}

/**
 * Appends encoded frames; first rotates <id>.log to .1 when it would pass the limit. Call with
 * the row as stored (before this batch's offsets) and record the returned log_size.
 */
export function appendLog(dataDir: string, db: Db, row: ProcessRow, frames: Buffer, limit: number): number {
  const p = logPaths(dataDir, row.id);
  let logSize = row.log_size;
  if (logSize > 0 && logSize + frames.length > limit) {
    renameSync(p.cur, p.old);
    db.q.setLogRotated.run({ id: row.id, log1_base: row.log_base, log_base: row.out_offset, log_size: 0 });
    logSize = 0;
  }
  appendFileSync(p.cur, frames);
  return logSize + frames.length;
}

export interface DataLine {
  offset: number;
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

/** Where a reader stopped in a file, so the next read need not scan it from the start. */
export interface ReadCursor {
  base: number;
  filePos: number;
  payloadPos: number;
}

export interface ReadResult {
  lines: DataLine[];
  /** the offset to read from next */
  next: number;
  cursor: ReadCursor | undefined;
}

interface Segment {
  path: string;
  base: number;
  end: number;
  limit: number;
}

/**
 * Output from payload offset `from` (or the oldest kept, if that is later), at most about
 * maxBytes of it, as far as the row says is written.
 */
export function readLog(dataDir: string, row: ProcessRow, from: number, cursor?: ReadCursor, maxBytes = 1 << 20): ReadResult {
  const p = logPaths(dataDir, row.id);
  const segs: Segment[] = [];
  if (row.log1_base !== null) {
    const size = sizeOf(p.old);
    if (size >= 0) segs.push({ path: p.old, base: row.log1_base, end: row.log_base, limit: size });
  }
  segs.push({ path: p.cur, base: row.log_base, end: row.out_offset, limit: row.log_size });
  let pos = Math.max(from, segs[0]!.base);
  const lines: DataLine[] = [];
  let budget = maxBytes;
  let lastCursor = cursor;
  for (const seg of segs) {
    if (pos >= seg.end || budget <= 0 || seg.limit <= 0) continue;
    pos = Math.max(pos, seg.base);
    const fd = openSync(seg.path, 'r');
    try {
      let filePos = 0;
      let payloadPos = seg.base;
      if (cursor && cursor.base === seg.base && cursor.payloadPos <= pos && cursor.filePos <= seg.limit) {
        filePos = cursor.filePos;
        payloadPos = cursor.payloadPos;
      }
      const head = Buffer.alloc(FRAME_HEADER);
      while (filePos + FRAME_HEADER <= seg.limit && budget > 0) {
        if (readSync(fd, head, 0, FRAME_HEADER, filePos) < FRAME_HEADER) break;
        const type = String.fromCharCode(head[0]!);
        const len = head.readUInt32LE(1);
        if (filePos + FRAME_HEADER + len > seg.limit) break;
        if (type === 'o' || type === 'e') {
          const end = payloadPos + len;
          if (end > pos) {
            const skip = pos - payloadPos;
            const data = Buffer.alloc(len - skip);
            readSync(fd, data, 0, data.length, filePos + FRAME_HEADER + skip);
            lines.push({ offset: pos, stream: type === 'o' ? 'stdout' : 'stderr', data });
            budget -= data.length;
            pos = end;
          }
          payloadPos = end;
        }
        filePos += FRAME_HEADER + len;
      }
      lastCursor = { base: seg.base, filePos, payloadPos };
    } finally {
      closeSync(fd);
    }
  }
  return { lines, next: pos, cursor: lastCursor };
}
