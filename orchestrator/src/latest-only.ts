/**
 * Sends only the latest value for each key, one send at a time per key: a value given while one
 * is in flight replaces any that waits, and a failed send is tried again (after retryMs) unless a
 * newer value came meanwhile or give-up says the key no longer matters. For notices where each
 * value supersedes the ones before (how far output was stored), so a burst makes one request and
 * a lost request is never the last word.
 */
export interface LatestOnly<K, V> {
  send(key: K, value: V): void;
  /** resolves once nothing is in flight or waiting */
  idle(): Promise<void>;
}

export function latestOnly<K, V>(opts: {
  deliver: (key: K, value: V) => Promise<void>;
  /** true: stop trying for this key (the thing it is about is gone) */
  giveUp: (key: K, err: unknown) => boolean;
  retryMs: number;
}): LatestOnly<K, V> {
  const waiting = new Map<K, V>();
  const running = new Map<K, Promise<void>>();

  async function drain(key: K): Promise<void> {
    while (waiting.has(key)) {
      const value = waiting.get(key)!;
      waiting.delete(key);
      try {
        await opts.deliver(key, value);
      } catch (err) {
        if (opts.giveUp(key, err)) {
          waiting.delete(key);
          return;
        }
        if (!waiting.has(key)) waiting.set(key, value);
        await new Promise((r) => setTimeout(r, opts.retryMs));
      }
    }
  }

  return {
    send(key, value) {
      waiting.set(key, value);
      if (running.has(key)) return;
      const p = drain(key).finally(() => running.delete(key));
      running.set(key, p);
    },
    async idle() {
      while (running.size) await Promise.allSettled([...running.values()]);
    },
  };
}
