/**
 * Long-running components (orchestrator, agents): started in their own session, so a Ctrl-C at
 * the terminal reaches only `godwit cluster up`, with stdout and stderr appended to a log file.
 */
import fs from 'node:fs';
import { execa } from 'execa';
import { CliError } from '../errors.js';

export interface Daemon {
  pid: number;
  /** settles when the process exits, while this process still runs */
  exited: Promise<{ code: number | null; signal: string | null }>;
}

export async function startDaemon(file: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): Promise<Daemon> {
  const fd = fs.openSync(logFile, 'a', 0o600);
  try {
    fs.writeSync(fd, `--- ${new Date().toISOString()} ${file} ${args.join(' ')}\n`);
    // execa's types name only descriptors up to 9; any number goes to spawn() as it is.
    const log = fd as 3;
    const sub = execa(file, args, {
      detached: true,
      cleanup: false,
      reject: false,
      stdin: 'ignore',
      stdout: log,
      stderr: log,
      env: env ?? process.env,
      extendEnv: false,
    });
    await new Promise<void>((resolve, reject) => {
      sub.once('spawn', () => resolve());
      sub.once('error', (err) => reject(new CliError(`cannot start ${file}: ${err.message}`)));
    });
    if (sub.pid === undefined) throw new CliError(`cannot start ${file}: no PID`);
    sub.unref();
    const exited = sub.then((r) => ({ code: r.exitCode ?? null, signal: r.signal ?? null }));
    return { pid: sub.pid, exited };
  } finally {
    fs.closeSync(fd);
  }
}
