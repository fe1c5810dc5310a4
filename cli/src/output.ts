/**
 * What the CLI writes and how it ends: results on stdout (as JSON with --json, else as the
 * command's view), remarks on stderr, and the exit statuses, one table for every command.
 */

/**
 * Every status a godwit command exits with, besides a followed program's own (which mosrun,
 * attach and batch pass on) and 128+N for a death by signal N, as a shell gives.
 */
const row = <S extends number>(status: S, meaning: string) => ({ status, meaning });

export const EXIT = {
  OK: row(0, 'done'),
  ERROR: row(1, 'failed (the message says why)'),
  USAGE: row(2, 'bad usage: unknown option, missing or malformed argument'),
  CHECKPOINTED: row(75, 'the program was checkpointed and ended (mosmigrate ID exit); mosrun -R brings it back'),
  NOT_EXECUTABLE: row(126, 'the program could not be run (not executable, a directory)'),
  NOT_FOUND: row(127, 'the program was not found'),
};

export type ExitName = keyof typeof EXIT;

/** The table of exit statuses, for --help. */
export function exitStatusHelp(): string {
  const rows = Object.values(EXIT).map((e) => `  ${String(e.status).padStart(5)}  ${e.meaning}`);
  return ['Exit status:', ...rows, '  128+N  the program died of signal N', "  other  the program's own exit status"].join('\n');
}

/** A remark for the person at the terminal: on stderr, so that stdout keeps only results. */
export function say(line: string, prog = 'godwit'): void {
  process.stderr.write(`${prog}: ${line}\n`);
}

/** Writes `text` to stdout, waiting for the pipe to drain. */
export async function print(text: string): Promise<void> {
  if (!process.stdout.write(text)) await new Promise((r) => process.stdout.once('drain', r));
}

export function renderJson(data: unknown): string {
  return JSON.stringify(data, null, 2) + '\n';
}

/** A command's result: as JSON with --json, else as `view` draws it. */
export function show<T>(data: T, json: boolean | undefined, view: (data: T) => string): Promise<void> {
  return print(json ? renderJson(data) : view(data));
}
