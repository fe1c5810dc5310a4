/**
 * `mosrun -S MAXJOBS FILE`: MOSIX's batch mode. Each line of FILE (blank lines and # comments
 * aside) is a command, run by `sh -c` on the cluster, at most MAXJOBS at once, each placed on the
 * node with the most spare CPU when it starts (or where -r says). Their output comes here as it
 * arrives; each job's start and exit status are said on stderr. Exits 0 when every job did, else
 * with the highest status of those that did not.
 */
import fs from 'node:fs';
import { type GodwitClient } from '../client.js';
import { isNotRunning, UsageError } from '../errors.js';
import { followOutput, programEnv } from '../session.js';
import { say } from '../output.js';


/** where each job goes: the node -r named (else the best one then), with -m and -L */
export interface BatchPlacement {
  node: string | undefined;
  memMiB: number | undefined;
  locked: boolean;
}

/** a job that has ended meanwhile needs nothing more; anything else is said */
function unlessEnded(err: unknown, what: string): void {
  if (!isNotRunning(err)) say(`${what}: ${(err as Error).message}`);
}

export function readCommands(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the commands file ${file}: ${(err as Error).message}`);
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (!lines.length) throw new UsageError(`the commands file ${file} has no commands (one per line)`);
  return lines;
}

export async function runBatch(client: GodwitClient, args: BatchPlacement, maxJobs: number, file: string): Promise<number> {
  const commands = readCommands(file);
  const running = new Set<number>();
  const forward = (sig: NodeJS.Signals) => () => {
    for (const id of running) client.signal(id, sig).catch((err: unknown) => unlessEnded(err, `could not pass ${sig} to process ${id}`));
  };
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const).map((sig) => [sig, forward(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  let worst = 0;
  let next = 0;
  const job = async (): Promise<void> => {
    while (next < commands.length) {
      const n = ++next;
      const line = commands[n - 1]!;
      const proc = await client.run({
        argv: ['sh', '-c', line],
        cwd: process.cwd(),
        env: programEnv(process.env),
        homeNode: client.config.homeNode,
        ...(args.node ? { node: args.node } : { best: true }),
        ...(args.memMiB !== undefined ? { memMiB: args.memMiB } : {}),
        ...(args.locked ? { locked: true } : {}),
      });
      running.add(proc.id);
      say(`job ${n} (process ${proc.id}) started on ${proc.node}: ${line}`);
      // jobs read no input: their stdin ends at once
      await client.sendStdin(proc.id, new Uint8Array(0), { eof: true }).catch((err: unknown) => unlessEnded(err, `could not end the input of process ${proc.id}`));
      const status = await followOutput(client, proc.id).finally(() => running.delete(proc.id));
      say(`job ${n} (process ${proc.id}) exited with status ${status}`);
      worst = Math.max(worst, status);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(maxJobs, commands.length) }, job));
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
  say(`${commands.length} job(s) done${worst ? `; the highest exit status was ${worst}` : ', all with status 0'}`);
  return worst;
}
