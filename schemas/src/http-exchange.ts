/**
 * One request over node:http(s), from its start to its response's head, cut short by a signal:
 * what the CLI's client and the components' fetch over TLS both need, and Node's own fetch gives
 * neither (it takes no CA or client certificate, and loads undici on first use).
 */
import type { ClientRequest, IncomingMessage } from 'node:http';

/**
 * Starts the request (unless the signal has aborted), sends body and resolves with the response
 * once its head has arrived. Rejects with the signal's reason when it aborts (a TimeoutError for
 * AbortSignal.timeout), before or after the head, or with the socket's error (its code:
 * ECONNREFUSED...). After the head an abort fails the body's stream with the reason.
 */
export function exchange(start: () => ClientRequest, signal: AbortSignal | undefined, body?: string | Uint8Array): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const outgoing = start();
    let incoming: IncomingMessage | undefined;
    const onAbort = (): void => {
      const reason = signal?.reason as Error;
      if (incoming) incoming.destroy(reason);
      else outgoing.destroy(reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    outgoing.on('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(signal?.aborted ? (signal.reason as Error) : err);
    });
    outgoing.on('response', (res) => {
      incoming = res;
      res.on('close', () => signal?.removeEventListener('abort', onAbort));
      // answered before the body was all sent (a refusal): the rest is not wanted, and the server
      // would cut a client that goes on sending
      res.on('end', () => {
        if (!outgoing.writableFinished) outgoing.destroy();
      });
      resolve(res);
    });
    outgoing.end(body);
  });
}
