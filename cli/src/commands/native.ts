/**
 * `mosnative PROGRAM [ARGS...]`: MOSIX's native mode, a program that godwit never moves: it runs
 * here as an ordinary Linux process, in the foreground, with this terminal and exit status.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { Command } from '@commander-js/extra-typings';
import { CliError } from '../errors.js';

/** signals someone may send mosnative's PID that belong to the program (the terminal's reach it directly) */
const PASSED_ON = ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGALRM'] as const;

/** What a shell says and returns when a program cannot be started. */
export function startFailure(program: string, code: string | undefined): CliError {
  if (code === 'ENOENT') return new CliError(`${program}: command not found`, { code: 'NOT_FOUND' });
  if (code === 'EACCES' || code === 'EISDIR') return new CliError(`${program}: permission denied (not an executable file)`, { code: 'NOT_EXECUTABLE' });
  return new CliError(`${program}: cannot be started (${code ?? 'unknown error'})`, { code: 'NOT_EXECUTABLE' });
}

/** Runs argv here, not under godwit; resolves with a shell's exit status for it. */
export function runNative(argv: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
    const pass = PASSED_ON.map((sig) => [sig, () => child.kill(sig)] as const);
    for (const [sig, h] of pass) process.on(sig, h);
    // the terminal's Ctrl-C and Ctrl-\ reach the program itself: mosnative waits for it
    const ignore = () => {};
    process.on('SIGINT', ignore).on('SIGQUIT', ignore);
    const done = () => {
      for (const [sig, h] of pass) process.off(sig, h);
      process.off('SIGINT', ignore).off('SIGQUIT', ignore);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      done();
      reject(startFailure(argv[0]!, err.code));
    });
    child.on('exit', (code, signal) => {
      done();
      resolve(signal ? 128 + ((os.constants.signals as Record<string, number | undefined>)[signal] ?? 0) : (code ?? 1));
    });
  });
}

export function buildNativeCommand(name: string) {
  return new Command(name)
    .description('run a program here as an ordinary Linux process, which godwit never moves (MOSIX mosnative)')
    .argument('<program>', 'the program to run')
    .argument('[args...]', 'its arguments, passed on untouched (dashes included)')
    .passThroughOptions()
    .helpOption('--help', 'show this help')
    .action(async (program, args) => {
      process.exitCode = await runNative([program, ...args]);
    });
}
