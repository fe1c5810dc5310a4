/**
 * The failures the agent expects and passes over, named where they are caught: a file not there
 * (yet, or any more), a process that ended meanwhile. Anything else is a real failure and goes on
 * up to whoever can say what failed.
 */

/** a process, or its /proc files, gone: it ended while the agent looked */
export const GONE = ['ENOENT', 'ESRCH'] as const;

/** whether err is a system error with one of codes */
export function hasCode(err: unknown, codes: readonly string[]): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code !== undefined && codes.includes(code);
}

/** Rethrows err unless it is a system error with one of codes. */
export function passOver(err: unknown, codes: readonly string[]): void {
  if (!hasCode(err, codes)) throw err;
}

/** Sends sig to pid; a process that ended already is passed over. */
export function signalIfAlive(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    passOver(err, ['ESRCH']);
  }
}

/** fn's value; fallback where fn fails with a system error with one of codes */
export function passingOver<T, F>(codes: readonly string[], fallback: F, fn: () => T): T | F {
  try {
    return fn();
  } catch (err) {
    passOver(err, codes);
    return fallback;
  }
}

/** Rethrows err unless it is a system error with one of codes, or JSON that does not parse (a file cut short). */
export function passOverOrBadJson(err: unknown, codes: readonly string[]): void {
  if (!(err instanceof SyntaxError)) passOver(err, codes);
}

/**
 * Removing a directory where a control view is still mounted: the mount is busy (EBUSY), its
 * view answers whoever is not its program EACCES (keeper/controlfs.c), or its keeper is gone
 * (ENOTCONN) and only umount ends it.
 */
export const MOUNTED = ['EBUSY', 'EACCES', 'ENOTCONN'] as const;
