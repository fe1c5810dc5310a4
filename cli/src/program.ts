/** What every godwit command shares: usage errors in godwit's words, exit statuses, no stack traces. */
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { renderError } from './errors.js';

/** Any command, whatever its typed arguments and options. */
export type AnyCommand = CommandUnknownOpts;

/**
 * Makes `cmd` and its subcommands throw instead of exiting, and print usage errors as
 * `godwit: <message>` with a pointer to --help.
 */
export function configureCommand(cmd: AnyCommand, prog = 'godwit'): AnyCommand {
  cmd.exitOverride();
  cmd.configureOutput({
    outputError: (str, write) => {
      const msg = str.replace(/^error: /, '').trimEnd();
      write(`${prog}: ${msg}\n(see \`${fullName(cmd)} --help\`)\n`);
    },
  });
  for (const sub of cmd.commands) configureCommand(sub, prog);
  return cmd;
}

function fullName(cmd: AnyCommand): string {
  const names: string[] = [];
  for (let c: AnyCommand | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Streams written before exiting: exit only once they are flushed. */
async function flush(): Promise<void> {
  await Promise.all(
    [process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => (s.writableLength ? s.write('', () => resolve()) : resolve()))),
  );
}

/**
 * Parses argv and runs the chosen action, then exits: with process.exitCode as the action left
 * it, or with the status that belongs to the error it threw.
 */
export async function runMain(program: AnyCommand, argv: string[] = process.argv, prog = 'godwit'): Promise<never> {
  configureCommand(program, prog);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const r = renderError(err, prog);
    if (r.text) process.stderr.write(r.text);
    if (process.env.GODWIT_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    process.exitCode = r.exitCode;
  }
  await flush();
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
}
