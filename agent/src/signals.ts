import { constants } from 'node:os';

const byNumber = new Map<number, string>(
  Object.entries(constants.signals).map(([name, num]) => [num, name]),
);

export function signalName(num: number): string | null {
  return num > 0 ? (byNumber.get(num) ?? `SIG${num}`) : null;
}

/**
 * Signals tini (PID 1 of the program's namespace) does not pass on to the program: SIGSTOP stops
 * tini itself, tini ignores SIGTTIN and SIGTTOU, and leaves the fault signals at their default
 * action, which the kernel discards for a namespace's init. These go to the program's own PID.
 */
export const NOT_PASSED_ON_BY_TINI: ReadonlySet<string> = new Set([
  'SIGSTOP', 'SIGTTIN', 'SIGTTOU', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGSYS',
]);
