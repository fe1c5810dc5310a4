/**
 * Writes input to a program through its keeper's FIFO, as frames ('d' data, 'c' close), one
 * writer at a time per program so chunks keep their order.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';

const CHUNK = 32 * 1024;

export function createStdinWriter() {
  const queues = new Map<string, Promise<void>>();

  async function writeFrames(dir: string, data: Buffer, eof: boolean): Promise<void> {
    const fh = await open(join(dir, 'stdin'), 'a');
    try {
      for (let at = 0; at < data.length; at += CHUNK) {
        const part = data.subarray(at, at + CHUNK);
        const head = Buffer.alloc(5);
        head.write('d', 0, 'latin1');
        head.writeUInt32LE(part.length, 1);
        await fh.write(Buffer.concat([head, part]));
      }
      if (eof) await fh.write(Buffer.from([0x63, 0, 0, 0, 0]));
    } finally {
      await fh.close();
    }
  }

  return (dir: string, data: Buffer, eof: boolean): Promise<void> => {
    const next = (queues.get(dir) ?? Promise.resolve()).then(() => writeFrames(dir, data, eof));
    // a write that fails fails for its caller (it gets `next`); the next write still waits for it
    const settled = next.catch(() => undefined);
    queues.set(dir, settled);
    void settled.then(() => {
      if (queues.get(dir) === settled) queues.delete(dir);
    });
    return next;
  };
}
