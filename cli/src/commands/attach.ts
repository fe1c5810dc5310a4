/**
 * `godwit attach ID`: a new foreground for a program that runs on (its mosrun gone, or started
 * through the API): its output from where the user chooses, our input, our signals, its exit
 * status ours.
 */
import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { connect } from '../client.js';
import { processIdArg } from '../process-id.js';
import { foreground } from '../session.js';

/** By default the output starts this far back: enough to see where it is, not a flood. */
export const DEFAULT_BACK_BYTES = 4096;

/** Where to show the output from: its start, from now on, a byte offset, or some bytes back. */
export type From = { start: true } | { now: true } | { offset: number } | { back: number };

export function parseFrom(v: string): From {
  if (v === 'start') return { start: true };
  if (v === 'now') return { now: true };
  if (/^[0-9]+$/.test(v)) return { offset: Number(v) };
  if (/^-[0-9]+$/.test(v)) return { back: Number(v.slice(1)) };
  throw new InvalidArgumentError(`'${v}' is not start, now, a byte offset (0, 1000) or bytes back from now (-4096)`);
}

/** The byte offset of the output to begin with, `outputBytes` being how much there is so far. */
export function fromOffset(from: From, outputBytes: number): number {
  if ('start' in from) return 0;
  if ('now' in from) return outputBytes;
  if ('offset' in from) return from.offset;
  return Math.max(0, outputBytes - from.back);
}

export function buildAttachCommand(name: string) {
  return new Command(name)
    .description("be a running program's foreground again: its output here, this terminal's input and signals to it, its exit status")
    .helpOption('--help', 'show this help')
    .argument('<id>', "the process: godwit's id or its home PID (see mosps)")
    .addOption(
      new Option('--from <WHERE>', `where its output starts: start, now, a byte offset, or -BYTES back from now (default: -${DEFAULT_BACK_BYTES})`)
        .argParser(parseFrom),
    )
    .option('--json', 'write the process as one JSON line to stderr when attaching, and as it ended (stdout stays the program’s)')
    .addHelpText(
      'after',
      `
As mosrun is: the program's output comes here, this terminal's input goes to it (only when there
is input: from a script with no stdin, its stdin stays open), every signal this command can catch
is passed on (Ctrl-C, Ctrl-Z and fg, ...), and ${name} exits with its exit status. The output
from before attaching is kept on the program's home node (bounded): --from start shows what is
left of it. Several may be attached at once.

Examples:
  godwit ${name} 12                (the last ${DEFAULT_BACK_BYTES / 1024} KiB, then what comes)
  godwit ${name} 12 --from now
  godwit ${name} 12 --from start`,
    )
    .action(async (id, opts) => {
      processIdArg(id);
      const client = await connect();
      const proc = await client.getProcess(id);
      if (opts.json) process.stderr.write(JSON.stringify(proc) + '\n');
      const from = fromOffset(opts.from ?? { back: DEFAULT_BACK_BYTES }, proc.outputBytes ?? 0);
      process.exitCode = await foreground(client, proc.id, { from, inputOnlyIfReadable: true });
      if (opts.json) process.stderr.write(JSON.stringify(await client.getProcess(proc.id)) + '\n');
    });
}
