/**
 * A migration's steps as the orchestrator's websocket sends them, as an async iterable that ends
 * when the socket does. Loaded only when asked for (GodwitClient.progress), so that mosrun's start
 * does not load a websocket library it never uses.
 */
import WebSocket from 'ws';
import type { MigrationProgress } from '@godwit/schemas';

/** how long a migration waits for the progress socket before it starts without one */
const OPEN_TIMEOUT_MS = 2000;

export interface WebSocketAddress {
  url: string;
  headers: Record<string, string>;
  /** for wss: the CA (PEM) the server's certificate must come from */
  ca?: string;
}

export interface ProgressStream extends AsyncIterable<MigrationProgress> {
  /** settles once the socket is open (or could not be): start the migration after it */
  opened: Promise<void>;
  /** ends the stream; steps not yet taken are dropped */
  close(): void;
}

export function openProgressStream(address: WebSocketAddress): ProgressStream {
  const ws = new WebSocket(address.url, { headers: address.headers, ...(address.ca ? { ca: address.ca } : {}) });
  const queue: MigrationProgress[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  const end = () => {
    ended = true;
    wake?.();
  };
  const opened = new Promise<void>((resolve) => {
    ws.once('open', () => resolve());
    ws.once('error', () => resolve());
    setTimeout(resolve, OPEN_TIMEOUT_MS).unref();
  });
  // a socket that fails loses only the display: the migration goes on, and its answer says how it ended
  ws.on('error', end);
  ws.on('close', end);
  ws.on('message', (data: WebSocket.RawData) => {
    try {
      queue.push(JSON.parse(String(data)) as MigrationProgress);
    } catch (err) {
      // a line that is not JSON shows nothing; any other failure is a bug
      if (!(err instanceof SyntaxError)) throw err;
      return;
    }
    wake?.();
  });
  return {
    opened,
    close() {
      queue.length = 0;
      ws.close();
      end();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    },
  };
}
