/**
 * Serves one epoch's output as the keeper writes it: frames from a byte offset, across the
 * keeper's segments (keeper/keeper-output.c), following them until the keeper's exit frame,
 * which is rewritten as the EpochEnd the orchestrator reads.
 */
import { watch } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { encodeFrame, FrameDecoder, GodwitError, type EpochEnd } from '@godwit/schemas';
import { programExit, type KeeperExit } from './exit-status.js';
import { passOver } from './expected-errors.js';
import { outputSegmentPath, outputSegments } from './keeper.js';

/**
 * The segments are read again when inotify says one changed or began, or after this long anyway
 * (an event lost when the kernel's queue overflowed). Each idle stream's look costs the agent a
 * read and a failed open: once a second, 46 of 163 CPU-seconds of an agent with 67 idle sleepers
 * went to them (bench:many); a short timer would take that CPU from the programs.
 */
const FALLBACK_MS = 10_000;

export interface EpochStream {
  /** the program's directory, where its keeper writes */
  dir: string;
  epoch: number;
  offset: number;
  /** the output, in words: "the output of process 12 epoch 0 on node1" */
  what: string;
  /** waits until no dump of this program is running, then says whether the epoch ended in one */
  endedByDump: () => Promise<boolean>;
  signal: AbortSignal;
}

/**
 * The start of the segment that holds offset: the last to start at or below it. None does when
 * the segment was removed as stored for good (the caller's offset is behind what it said it took),
 * or when the epoch has no output here at all.
 */
export function segmentHolding(starts: readonly number[], offset: number, what: string): number {
  const start = starts.findLast((s) => s <= offset);
  if (start === undefined) {
    throw new GodwitError(
      'GODWIT_ERR_OUTPUT_MISMATCH',
      starts.length
        ? `${what} is kept here from offset ${starts[0]} on: what lies before was stored for good and removed, so offset ${offset} is no longer here`
        : `${what} has no output file here`,
    );
  }
  return start;
}

/** The epoch's output from opts.offset; throws at once (before any byte) when that is not here. */
export function epochOutput(opts: EpochStream): AsyncGenerator<Buffer> {
  const first = segmentHolding(outputSegments(opts.dir, opts.epoch), opts.offset, opts.what);
  return follow(opts, first);
}

/** the segment starting at start, or undefined when the keeper has not begun it */
async function openSegment(opts: EpochStream, start: number): Promise<FileHandle | undefined> {
  try {
    return await open(outputSegmentPath(opts.dir, opts.epoch, start), 'r');
  } catch (err) {
    passOver(err, ['ENOENT']);
    return undefined;
  }
}

async function* follow(opts: EpochStream, first: number): AsyncGenerator<Buffer> {
  let segStart = first;
  const opened = await openSegment(opts, segStart);
  if (!opened) throw new GodwitError('GODWIT_ERR_OUTPUT_MISMATCH', `${opts.what}: its segment from offset ${segStart} went before it was read`);
  let fh = opened;
  // set by every change, so that one that comes between a read and the wait is not slept through
  let changed = false;
  let wake = () => {};
  const prefix = `out.${opts.epoch}.`;
  const watcher = watch(opts.dir, (_event, name) => {
    if (name?.startsWith(prefix)) {
      changed = true;
      wake();
    }
  });
  const onAbort = () => wake();
  opts.signal.addEventListener('abort', onAbort);
  try {
    const decoder = new FrameDecoder();
    const buf = Buffer.alloc(256 * 1024);
    let pos = opts.offset;
    while (!opts.signal.aborted) {
      changed = false;
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos - segStart);
      if (bytesRead === 0) {
        // the keeper begins the segment starting here only once it has done with this one
        const next = await openSegment(opts, pos);
        if (next) {
          await fh.close();
          fh = next;
          segStart = pos;
          continue;
        }
        if (!changed && !opts.signal.aborted) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, FALLBACK_MS);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        wake = () => {};
        continue;
      }
      pos += bytesRead;
      const out: Buffer[] = [];
      for (const frame of decoder.push(Buffer.from(buf.subarray(0, bytesRead)))) {
        if (frame.type !== 'x') {
          out.push(encodeFrame(frame.type, frame.data));
          continue;
        }
        if (out.length) yield Buffer.concat(out);
        const end: EpochEnd = {
          ...programExit(JSON.parse(frame.data.toString('utf8')) as KeeperExit),
          dumped: await opts.endedByDump(),
        };
        yield encodeFrame('x', Buffer.from(JSON.stringify(end)));
        return;
      }
      if (out.length) yield Buffer.concat(out);
    }
  } finally {
    watcher.close();
    opts.signal.removeEventListener('abort', onAbort);
    await fh.close();
  }
}
