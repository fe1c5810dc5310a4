/** Signals as a person names them (`kill -USR1`, `kill -s SIGTERM`, `kill -10`), and which ones mosrun passes on. */
import { SIGNAL_NAMES, type SignalName } from '@godwit/schemas';
import { UsageError } from './errors.js';
import { didYouMean } from './suggest.js';

/** Other names of the same signals, as kill(1) takes them. */
const ALIASES: Readonly<Record<string, SignalName>> = { SIGIOT: 'SIGABRT', SIGPOLL: 'SIGIO', SIGCLD: 'SIGCHLD' };

/** A signal by name (with or without SIG, any case) or by number, as kill(1) takes it. */
export function parseSignal(spec: string): SignalName {
  if (/^[0-9]+$/.test(spec)) {
    const name = SIGNAL_NAMES[Number(spec) - 1];
    if (name !== undefined && Number(spec) > 0) return name;
    throw new UsageError(`no signal number ${spec}: the signals are 1 to ${SIGNAL_NAMES.length} (\`kill -l\` lists them)`);
  }
  const upper = spec.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const known = (SIGNAL_NAMES as readonly string[]).includes(name) ? (name as SignalName) : ALIASES[name];
  if (known) return known;
  const names = [...SIGNAL_NAMES, ...Object.keys(ALIASES)].flatMap((k) => [k, k.slice(3)]);
  throw new UsageError(`unknown signal '${spec}'${didYouMean(upper, names)}: give a name (TERM, SIGUSR1, ...) or a number 1 to ${SIGNAL_NAMES.length} (\`kill -l\` lists them)`);
}

/**
 * What mosrun passes on to its program as it arrives: every signal a process can catch, but
 * those that belong to mosrun itself. Not here: SIGKILL and SIGSTOP (uncatchable); SIGCHLD
 * (mosrun's own children); SIGPIPE and SIGXFSZ (mosrun's own output); the fault signals SIGILL,
 * SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGSYS (after a real fault JavaScript cannot run); SIGPROF
 * (V8's profiler); SIGTTIN and SIGTTOU (caught, a background read or write of the terminal would
 * restart forever instead of stopping mosrun); SIGTSTP and SIGCONT (job control: session.ts).
 */
export const FORWARDED: readonly SignalName[] = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGABRT', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT',
  'SIGURG', 'SIGXCPU', 'SIGVTALRM', 'SIGWINCH', 'SIGIO', 'SIGPWR',
];
