/**
 * Tells the orchestrator how far an attached follower (mosrun) has written a program's output,
 * every ACK_EVERY bytes, one request at a time, the latest offset winning: the program runs only a
 * short lead ahead of what really reached mosrun's stdout, not of what the network holds on the
 * way. A failed word is said again, or the program would wait for it for ever.
 */
import type { GodwitClient } from './client.js';

const ACK_EVERY = 16 * 1024;
const RETRY_MS = 500;

export function writtenAcks(client: GodwitClient, id: number): (offset: number) => void {
  let acked = 0;
  let latest = 0;
  let inFlight = false;
  const send = (): void => {
    if (inFlight || latest - acked < ACK_EVERY) return;
    inFlight = true;
    const at = latest;
    client.outputWritten(id, at).then(
      () => {
        acked = at;
        inFlight = false;
        send();
      },
      () => {
        setTimeout(() => {
          inFlight = false;
          send();
        }, RETRY_MS).unref();
      },
    );
  };
  return (offset) => {
    latest = Math.max(latest, offset);
    send();
  };
}
