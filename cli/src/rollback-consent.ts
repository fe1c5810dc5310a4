/**
 * mosrun -R puts the files its program was writing in its own working directory back as they
 * were at the checkpoint: what was written to them since is lost. So it names them first, with
 * their sizes then and now, and goes on only with the user's yes: asked on a terminal, or given
 * as --rollback-files where no one can be asked (a script, a pipe).
 */
import fs from 'node:fs';
import tty from 'node:tty';
import type { CheckpointInfo } from '@godwit/schemas';
import type { GodwitClient } from './client.js';
import { CliError } from './errors.js';
import { sizesThenAndNow } from './views/checkpoint.js';

/** how mosrun talks to the person recovering: whether it can ask, how it asks and says */
export interface ConsentIo {
  interactive: boolean;
  /** writes the question, returns the answer's line ('' at end of input) */
  ask: (question: string) => string;
  say: (line: string) => void;
}

/** the files a recovery writes back: those saved with the checkpoint, each path once */
export function filesRolledBack(info: CheckpointInfo): CheckpointInfo['files'] {
  const saved = info.files.filter((f) => f.saved);
  return saved.filter((f, i) => saved.findIndex((g) => g.path === f.path) === i);
}

export function rollbackList(info: CheckpointInfo, files: CheckpointInfo['files']): string {
  return [
    `recovering ${info.path} rolls back ${files.length === 1 ? 'this file' : `these ${files.length} files`} of ${info.cwd} to the checkpoint (${new Date(info.takenAt).toISOString()}); what was written to ${files.length === 1 ? 'it' : 'them'} since is lost:`,
    ...files.map((f) => `  ${f.path}: ${sizesThenAndNow(f)}`),
  ].join('\n');
}

/** Resolves when the recovery may go on; throws, having changed nothing, when it may not. */
export async function consentToRollback(client: GodwitClient, file: string, rollbackFiles: boolean, io: ConsentIo = terminalIo()): Promise<void> {
  const info = await client.checkpointInfo(file);
  const files = filesRolledBack(info);
  if (files.length === 0) return;
  const list = rollbackList(info, files);
  if (rollbackFiles) {
    io.say(list);
    return;
  }
  if (!io.interactive) {
    throw new CliError(`${list}\nnothing recovered: not on a terminal, so mosrun -R rolls files back only with --rollback-files`, { code: 'USAGE' });
  }
  io.say(list);
  const answer = io.ask('roll them back and recover it? [y/N] ').trim();
  if (!/^y(es)?$/i.test(answer)) throw new CliError('nothing recovered: the files are left as they are');
}

function terminalIo(): ConsentIo {
  return {
    // fd 0 as it is: process.stdin is left untouched for the program's input, which follows
    interactive: tty.isatty(0),
    ask: (question) => {
      process.stderr.write(question);
      return readLine();
    },
    say: (line) => process.stderr.write(`godwit: ${line}\n`),
  };
}

/** one line from the terminal, read before anything else reads fd 0 */
function readLine(): string {
  const buf = Buffer.alloc(256);
  let line = '';
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      continue;
    }
    if (n === 0) return line;
    line += buf.toString('utf8', 0, n);
    const end = line.indexOf('\n');
    if (end >= 0) return line.slice(0, end);
  }
}
