/**
 * mosrun's MOSIX letters that commander cannot take as they are: a node given as a flag (`-3`,
 * `-10.77.1.11`: MOSIX's `-{n}` and `-{a.b.c.d}`), and the program options that tune MOSIX's
 * remote system calls, which godwit has none of: accepted, each with a note of why it is not
 * needed, so that a MOSIX command line runs unchanged.
 */
import { InvalidArgumentError, Option } from '@commander-js/extra-typings';
import type { AnyCommand } from '../program.js';

/** MOSIX's node as a flag: a node number or an IPv4 address after a single dash */
const NODE_FLAG = /^-([0-9]+|[0-9]{1,3}(?:\.[0-9]{1,3}){3})$/;

const NOT_FAILED = "none of a godwit program's system calls is unsupported: they all run natively on its node (CRIU moves shared memory too), so none is failed or ends it";

/** the flags, and why godwit does not need them (said on stderr when one is given) */
const NOT_NEEDED: { flags: string; attr: string; note: string; meaning: string }[] = [
  { flags: '-e', attr: 'e', meaning: 'MOSIX: fail unsupported system calls', note: NOT_FAILED },
  { flags: '-w', attr: 'w', meaning: 'MOSIX: as -e, with a warning', note: NOT_FAILED },
  { flags: '-u', attr: 'u', meaning: 'MOSIX: end the program at an unsupported system call', note: NOT_FAILED },
  { flags: '-t', attr: 't', meaning: "MOSIX: the time from the node it runs on, not its home's", note: 'a godwit program always reads the clock of the node it runs on' },
  { flags: '-c', attr: 'c', meaning: 'MOSIX: do not bring it home for its system calls', note: 'godwit never brings a program home for its system calls: they run where it is' },
  {
    flags: '-d <decay>',
    attr: 'd',
    meaning: "MOSIX: how fast its I/O statistics decay (0-10000)",
    note: 'godwit brings no program home for its I/O: its system calls run where it is (the balancer only leaves I/O-bound programs where they are)',
  },
  {
    flags: '-X <directory>',
    attr: 'X',
    meaning: 'MOSIX: private temporary files under directory',
    note: "a godwit program opens its files where it runs, on the file system the nodes share, never through its home node",
  },
];

function decay(v: string): string {
  if (!/^[0-9]+$/.test(v) || Number(v) > 10000) throw new InvalidArgumentError(`'${v}' is not a decay from 0 to 10000`);
  return v;
}

/** Whether `token` is an option of `cmd` whose value is the next argument (`-r node1`, `-Lr node1`). */
function takesNextArgument(cmd: AnyCommand, token: string): boolean {
  const takesValue = (o: Option | undefined) => !!o && (o.required || o.optional);
  if (token.startsWith('--')) return !token.includes('=') && takesValue(cmd.options.find((o) => o.long === token));
  for (let i = 1; i < token.length; i++) {
    const o = cmd.options.find((x) => x.short === `-${token[i]}`);
    if (!o) return false;
    // a short option with a value takes the rest of the token, if any
    if (takesValue(o)) return i === token.length - 1;
  }
  return false;
}

/** `argv` with each node flag before the program (`-3`, `-10.77.1.11`) written as `-r3`, `-r10.77.1.11`. */
export function nodeFlagsAsR(cmd: AnyCommand, argv: readonly string[]): string[] {
  const out = [...argv];
  for (let i = 0; i < out.length; i++) {
    const a = out[i]!;
    if (a === '--' || a === '-' || !a.startsWith('-')) break;
    const m = NODE_FLAG.exec(a);
    if (m) out[i] = `-r${m[1]!}`;
    else if (takesNextArgument(cmd, a)) i++;
  }
  return out;
}

/** Gives `cmd` (mosrun) MOSIX's node flags and the program options godwit does not need. */
export function withMosixRunFlags<C extends AnyCommand>(cmd: C): C {
  for (const f of NOT_NEEDED) {
    const opt = new Option(f.flags, `${f.meaning}; not needed under godwit (says why)`);
    cmd.addOption(f.attr === 'd' ? opt.argParser(decay) : opt);
  }
  cmd.hook('preAction', (_cmd, action) => {
    const opts = action.opts() as Record<string, unknown>;
    for (const f of NOT_NEEDED) {
      if (opts[f.attr] !== undefined) process.stderr.write(`godwit: ${f.flags.split(' ')[0]!}: not needed, ${f.note}\n`);
    }
  });
  const parse = cmd.parseOptions.bind(cmd);
  cmd.parseOptions = (argv: string[]) => parse(nodeFlagsAsR(cmd, argv));
  return cmd;
}
