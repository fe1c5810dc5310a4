/**
 * mosrun's own stdout and stderr, through which the programs it follows print. When the reader of
 * one goes away (EPIPE: `mosrun yes | head -1`), each program followed through it is told
 * (POST .../output/close), so that its next write there gets SIGPIPE wherever it runs, as it
 * would in a local pipeline; what it printed meanwhile goes nowhere.
 */
import type { OutputStream } from '@godwit/schemas';
import type { GodwitClient } from './client.js';
import { isNotRunning } from './errors.js';
import { say } from './output.js';

const broken = new Set<OutputStream>();
const followed = new Map<number, GodwitClient>();

function tell(client: GodwitClient, id: number, stream: OutputStream): void {
  // the program may have ended meanwhile; and without the orchestrator it keeps its reader
  client.closeOutput(id, stream).catch((err: unknown) => {
    if (!isNotRunning(err)) say(`could not tell process ${id} that our ${stream} is closed: ${(err as Error).message}`);
  });
}

function watch(stream: OutputStream): void {
  const out = stream === 'stdout' ? process.stdout : process.stderr;
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (broken.has(stream)) return;
    broken.add(stream);
    for (const [id, client] of followed) tell(client, id, stream);
  });
}
let watching = false;

/** Program `id`'s output goes out here until the returned function is called. */
export function followedThrough(client: GodwitClient, id: number): () => void {
  // watched from the first program followed on, not at import: other commands keep node's own EPIPE
  if (!watching) {
    watching = true;
    watch('stdout');
    watch('stderr');
  }
  followed.set(id, client);
  for (const stream of broken) tell(client, id, stream);
  return () => followed.delete(id);
}

export async function writeOutput(stream: OutputStream, data: Buffer): Promise<void> {
  if (broken.has(stream)) return;
  const out = stream === 'stdout' ? process.stdout : process.stderr;
  if (out.write(data)) return;
  // a reader that went away ends the stream (EPIPE) without a drain
  await new Promise<void>((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}
