/**
 * CPU time of each CRIU process on this machine while a step runs, by what it does: read from
 * /proc/PID/stat (utime + stime), polled, each process's last reading kept. Other work on the
 * machine slows a step but hardly changes the CPU its daemons take, so this is what shows a
 * change to CRIU on a loaded machine.
 */
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_S = 100;

/** the part a CRIU process plays in a move, from its command line */
export type CriuRole = 'dump' | 'lazy dump' | 'page server' | 'lazy-pages' | 'restore';

function roleOf(argv: string[]): CriuRole | undefined {
  if (argv.includes('lazy-pages')) return 'lazy-pages';
  if (argv.includes('page-server')) return 'page server';
  if (argv.includes('dump')) return argv.includes('--lazy-pages') ? 'lazy dump' : 'dump';
  // a restored task, still CRIU while it maps its memory, has lost its command line once it has
  if (argv.includes('restore') || argv.length === 0) return 'restore';
  return undefined;
}

interface Seen { role: CriuRole; seconds: number }

/** Polls until stopped; stop() answers the CPU seconds each role took in all. */
export function watchCriuCpu(intervalMs = 20): { stop(): Map<CriuRole, number> } {
  const seen = new Map<string, Seen>();
  const poll = () => {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'criu') continue;
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const id = `${pid}@${fields[19]}`;
        const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
        const known = seen.get(id);
        if (known) {
          known.seconds = Math.max(known.seconds, seconds);
          continue;
        }
        const role = roleOf(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean));
        if (role) seen.set(id, { role, seconds });
      } catch {
        // gone between the listing and the read
      }
    }
  };
  const timer = setInterval(poll, intervalMs);
  poll();
  return {
    stop() {
      clearInterval(timer);
      poll();
      const byRole = new Map<CriuRole, number>();
      for (const { role, seconds } of seen.values()) byRole.set(role, (byRole.get(role) ?? 0) + seconds);
      return byRole;
    },
  };
}
