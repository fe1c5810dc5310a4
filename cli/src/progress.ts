/**
 * Shows a migration's progress while `mosmigrate` waits for it: a bar (bytes moved, rate) on a
 * terminal, plain lines otherwise, both on stderr so that stdout keeps only the result. The
 * orchestrator sends the steps over its websocket; losing that socket only loses the display.
 */
import cliProgress from 'cli-progress';
import WebSocket from 'ws';
import type { MigrationProgress } from '@godwit/schemas';
import type { WebSocketAddress } from './client.js';
import { formatBytes } from './render.js';

const MiB = 1024 * 1024;
/** at most one plain line per this many ms while memory moves, so a log stays readable */
const LINE_EVERY_MS = 1000;

/** how long a migration waits for the progress socket before it starts without one */
const OPEN_TIMEOUT_MS = 2000;

export interface ProgressView {
  /** settles once the socket is open (or could not be): start the migration after it */
  opened: Promise<void>;
  close(): void;
}

export function describe(p: MigrationProgress, rateBytesPerS: number | null): string {
  const moved = p.bytes > 0 ? ` ${formatBytes(p.bytes)}${p.totalBytes ? ` of ${formatBytes(p.totalBytes)}` : ''}` : '';
  const rate = rateBytesPerS !== null && rateBytesPerS > 0 ? ` (${formatBytes(rateBytesPerS)}/s)` : '';
  return `migration ${p.migrationId} of process ${p.processId}: ${p.state}${moved}${rate}`;
}

/** Follows /v1/processes/ID/progress until closed. */
export function showProgress(opts: { address: WebSocketAddress; tty: boolean; write: (line: string) => void }): ProgressView {
  const ws = new WebSocket(opts.address.url, { headers: opts.address.headers });
  let bar: cliProgress.SingleBar | undefined;
  let first: MigrationProgress | undefined;
  let lastLine = 0;
  let lastState = '';
  const opened = new Promise<void>((resolve) => {
    ws.once('open', () => resolve());
    ws.once('error', () => resolve());
    setTimeout(resolve, OPEN_TIMEOUT_MS).unref();
  });
  ws.on('error', () => undefined);
  ws.on('message', (data: WebSocket.RawData) => {
    let p: MigrationProgress;
    try {
      p = JSON.parse(String(data)) as MigrationProgress;
    } catch {
      return;
    }
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
  });
  return {
    opened,
    close() {
      bar?.stop();
      ws.close();
    },
  };
}
