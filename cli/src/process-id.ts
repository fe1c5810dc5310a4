import { UsageError } from './errors.js';

/** A process named on the command line: godwit's id or its home PID, both numbers. */
export function processIdArg(id: string): string {
  if (!/^[0-9]+$/.test(id)) throw new UsageError(`'${id}' is not a process id or PID (a number; see mosps)`);
  return id;
}
