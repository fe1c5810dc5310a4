/**
 * Serves one epoch's output as the keeper writes it: frames from a byte offset, following the
 * file until the keeper's exit frame, which is rewritten as the EpochEnd the orchestrator reads.
 */
import { watch } from 'node:fs';
import { open } from 'node:fs/promises';
import { encodeFrame, FrameDecoder, type EpochEnd } from '@godwit/schemas';
import { programExit, type KeeperExit } from './exit-status.js';

/**
 * The file is read again when inotify says it changed, or after this long anyway: reading it on
 * a short timer instead would cost the agent CPU for every program, silent or not, taken from the
 * programs.
 */
const FALLBACK_MS = 1000;

export interface EpochStream {
  file: string;
  offset: number;
  /** waits until no dump of this program is running, then says whether the epoch ended in one */
  endedByDump: () => Promise<boolean>;
  signal: AbortSignal;
}

export async function* epochOutput(opts: EpochStream): AsyncGenerator<Buffer> {
  const fh = await open(opts.file, 'r');
  // set by every change, so that one that comes between a read and the wait is not slept through
  let changed = false;
  let wake = () => {};
  const watcher = watch(opts.file, () => {
    changed = true;
    wake();
  });
  const onAbort = () => wake();
  opts.signal.addEventListener('abort', onAbort);
  try {
    const decoder = new FrameDecoder();
    const buf = Buffer.alloc(256 * 1024);
    let pos = opts.offset;
    while (!opts.signal.aborted) {
      changed = false;
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) {
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
