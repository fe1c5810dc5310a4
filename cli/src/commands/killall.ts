/** `moskillall [-SIG]`: MOSIX's signal to all of the caller's godwit processes (an administrator's: everyone's). */
import { Command } from '@commander-js/extra-typings';
import { GodwitError } from '@godwit/schemas';
import { connect } from '../client.js';
import { CliError } from '../errors.js';
import { parseSignal } from '../signals.js';
import { ACTIVE_STATES } from '../views/processes.js';

/** MOSIX's -{signal}: `-9`, `-KILL`, `-SIGKILL` as `--signal=...` (commander takes no option named by a number) */
export function signalFlagAsOption(argv: readonly string[]): string[] {
  return argv.map((a) => (/^-([0-9]+|[A-Z][A-Z0-9]+)$/.test(a) ? `--signal=${a.slice(1)}` : a));
}

export function buildKillallCommand(name: string) {
  const cmd = new Command(name)
    .description("send a signal (SIGTERM unless told) to all your godwit processes, wherever they run; an administrator's reaches everyone's (MOSIX moskillall)")
    .usage('[-SIGNAL]   e.g. moskillall, moskillall -9, moskillall -KILL')
    .option('-s, --signal <signal>', 'the signal: a name (TERM, KILL, USR1) or a number; also as MOSIX writes it: -9, -KILL', 'SIGTERM')
    .action(async (opts) => {
      const sig = parseSignal(opts.signal);
      const client = await connect();
      const procs = await client.listProcesses({ all: true, states: ACTIVE_STATES });
      const failed: string[] = [];
      for (const p of procs) {
        try {
          await client.signal(p.id, sig);
        } catch (err) {
          // one that ended meanwhile got what it was sent for
          if (err instanceof GodwitError && err.code === 'GODWIT_ERR_PROCESS_NOT_RUNNING') continue;
          failed.push(`process ${p.id} (${p.argv.join(' ')}): ${(err as Error).message}`);
        }
      }
      if (failed.length) throw new CliError(`${sig} reached ${procs.length - failed.length} of ${procs.length} processes; not:\n  ${failed.join('\n  ')}`);
    });
  const parse = cmd.parseOptions.bind(cmd);
  cmd.parseOptions = (argv: string[]) => parse(signalFlagAsOption(argv));
  return cmd;
}
