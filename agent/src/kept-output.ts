/**
 * The output of the processes whose home is this node, kept after it left the node they ran on:
 * <dataDir>/kept/<id>/<base>.log, each file a segment of 'o'/'e' frames (and a last 'x' frame
 * once the process exited) starting at payload offset <base>. At most two segments are kept: a
 * new one starts when the newest would pass the limit, and the one before the previous goes.
 *
 * The orchestrator records how far each segment is valid; every append states that record, and
 * the files are cut back to it first. So a crash of the orchestrator or of this agent between
 * writing and recording leaves nothing but bytes that are cut off and written again.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, truncateSync, appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FRAME_HEADER, GodwitError, type KeptAppendQuery, type KeptLayout, type KeptLine, type KeptReadQuery, type KeptReadResult } from '@godwit/schemas';
import { passingOver } from './expected-errors.js';

/** Where a reader stopped in a segment, so the next read need not scan it from the start. */
interface ReadCursor {
  base: number;
  filePos: number;
  payloadPos: number;
}

interface Segment {
  path: string;
  base: number;
  /** payload offset where the segment's recorded output ends */
  end: number;
  /** bytes of the file that are valid */
  limit: number;
}

const READ_MAX_BYTES = 1 << 20;

function sizeOf(path: string): number {
  return passingOver(['ENOENT'], -1, () => statSync(path).size);
}

export function createKeptOutput(dataDir: string, node: string) {
  const root = join(dataDir, 'kept');
  const dirOf = (id: number) => join(root, String(id));
  const segPath = (id: number, base: number) => join(dirOf(id), `${base}.log`);
  const cursors = new Map<number, ReadCursor>();

  function bases(id: number): number[] {
    if (!existsSync(dirOf(id))) return [];
    return readdirSync(dirOf(id))
      .map((f) => /^(\d+)\.log$/.exec(f)?.[1])
      .filter((b): b is string => b !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  return {
    /** Appends frames after the recorded layout; returns the layout to record now. */
    append(id: number, q: KeptAppendQuery, frames: Buffer): KeptLayout {
      const cur = segPath(id, q.logBase);
      // checked before anything is touched: a layout that is not this node's changes nothing here
      if (Math.max(sizeOf(cur), 0) < q.logSize) {
        throw new GodwitError(
          'GODWIT_ERR_OUTPUT_MISMATCH',
          `the kept output of process ${id} on ${node} holds ${Math.max(sizeOf(cur), 0)} bytes of segment ${q.logBase}, but ${q.logSize} were recorded`,
        );
      }
      mkdirSync(dirOf(id), { recursive: true, mode: 0o700 });
      const known = bases(id);
      // a segment begun after the recorded one was never recorded: its bytes come again
      for (const b of known) if (b > q.logBase) rmSync(segPath(id, b), { force: true });
      let size = sizeOf(cur);
      if (size < 0) {
        writeFileSync(cur, '', { mode: 0o600 });
        size = 0;
      }
      if (size > q.logSize) truncateSync(cur, q.logSize);
      const older = known.filter((b) => b < q.logBase);
      let layout: KeptLayout = { logBase: q.logBase, logSize: q.logSize, log1Base: older.at(-1) ?? null };
      if (q.logSize > 0 && q.logSize + frames.length > q.limit) {
        for (const b of older) rmSync(segPath(id, b), { force: true });
        layout = { logBase: q.outOffset, logSize: 0, log1Base: q.logBase };
      }
      appendFileSync(segPath(id, layout.logBase), frames, { mode: 0o600 });
      return { ...layout, logSize: layout.logSize + frames.length };
    },

    /** Output from payload offset q.from (or the oldest kept, if that is later), about 1 MiB at most. */
    read(id: number, q: KeptReadQuery): KeptReadResult {
      const segs: Segment[] = [];
      if (q.log1Base !== undefined) {
        const path = segPath(id, q.log1Base);
        segs.push({ path, base: q.log1Base, end: q.logBase, limit: sizeOf(path) });
      }
      const curPath = segPath(id, q.logBase);
      segs.push({ path: curPath, base: q.logBase, end: q.end, limit: Math.min(q.logSize, sizeOf(curPath)) });
      let pos = Math.max(q.from, segs[0]!.base);
      const lines: KeptLine[] = [];
      let budget = READ_MAX_BYTES;
      const cursor = cursors.get(id);
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
                lines.push({ offset: pos, stream: type === 'o' ? 'stdout' : 'stderr', data: data.toString('base64') });
                budget -= data.length;
                pos = end;
              }
              payloadPos = end;
            }
            filePos += FRAME_HEADER + len;
          }
          cursors.set(id, { base: seg.base, filePos, payloadPos });
        } finally {
          closeSync(fd);
        }
      }
      return { lines, next: pos };
    },
  };
}

export type KeptOutput = ReturnType<typeof createKeptOutput>;
