/**
 * Shows a migration's progress while `mosmigrate` waits for it: a bar (bytes moved, rate) on a
 * terminal, plain lines otherwise, both on stderr so that stdout keeps only the result.
 */
import cliProgress from 'cli-progress';
import type { MigrationProgress } from '@godwit/schemas';
import { formatBytes } from './views/format.js';

const MiB = 1024 * 1024;
/** at most one plain line per this many ms while memory moves, so a log stays readable */
const LINE_EVERY_MS = 1000;

export function describe(p: MigrationProgress, rateBytesPerS: number | null): string {
  const moved = p.bytes > 0 ? ` ${formatBytes(p.bytes)}${p.totalBytes ? ` of ${formatBytes(p.totalBytes)}` : ''}` : '';
  const rate = rateBytesPerS !== null && rateBytesPerS > 0 ? ` (${formatBytes(rateBytesPerS)}/s)` : '';
  return `migration ${p.migrationId} of process ${p.processId}: ${p.state}${moved}${rate}`;
}

/** Shows each step of `steps` until they end. */
export async function showProgress(steps: AsyncIterable<MigrationProgress>, opts: { tty: boolean; write: (line: string) => void }): Promise<void> {
  let bar: cliProgress.SingleBar | undefined;
  let first: MigrationProgress | undefined;
  let lastLine = 0;
  let lastState = '';
  try {
    for await (const p of steps) {
      first ??= p;
      const seconds = (p.at - first.at) / 1000;
      const rate = seconds > 0 ? (p.bytes - first.bytes) / seconds : null;
      if (opts.tty) {
        const total = Math.max(1, Math.round((p.totalBytes ?? p.bytes) / MiB));
        bar ??= new cliProgress.SingleBar(
          { format: 'migration {id} {state} |{bar}| {value}/{total} MiB {rate}', hideCursor: true, stream: process.stderr, clearOnComplete: false },
          cliProgress.Presets.shades_classic,
        );
        if (!bar.isActive) bar.start(total, 0, { id: p.migrationId, state: p.state, rate: '' });
        bar.setTotal(total);
        bar.update(Math.min(total, Math.round(p.bytes / MiB)), { state: p.state, rate: rate ? `${formatBytes(rate)}/s` : '' });
        return;
      }
      // each step once, and the bytes of a long memory transfer now and then
      if (p.state !== lastState || p.at - lastLine >= LINE_EVERY_MS) {
        opts.write(`${describe(p, rate)}\n`);
        lastState = p.state;
        lastLine = p.at;
      }
    }
  } finally {
    bar?.stop();
  }
}
