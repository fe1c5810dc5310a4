/**
 * `mosrun -S MAXJOBS FILE`: MOSIX's batch mode. Each line of FILE (blank lines and # comments
 * aside) is a command, run by `sh -c` on the cluster, at most MAXJOBS at once, each placed on the
 * node with the most spare CPU when it starts (or where -r says). Their output comes here as it
 * arrives; each job's start and exit status are said on stderr. Exits 0 when every job did, else
 * with the highest status of those that did not.
 */
import fs from 'node:fs';
import { type GodwitClient } from '../client.js';
import { CliError } from '../errors.js';
import { followOutput } from '../foreground.js';
import { programEnv, type RunArgs } from './run.js';

function say(line: string): void {
  process.stderr.write(`godwit: ${line}\n`);
}

export function readCommands(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the commands file ${file}: ${(err as Error).message}`, { exitCode: 2 });
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (!lines.length) throw new CliError(`the commands file ${file} has no commands (one per line)`, { exitCode: 2 });
  return lines;
}

export async function runBatch(client: GodwitClient, args: RunArgs, maxJobs: number, file: string): Promise<number> {
  const commands = readCommands(file);
  const running = new Set<number>();
  const forward = (sig: NodeJS.Signals) => () => {
    for (const id of running) client.signal(id, sig).catch(() => undefined);
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
      await client.sendStdin(proc.id, new Uint8Array(0), { eof: true }).catch(() => undefined);
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
