/**
 * Which way a migration moves memory. Twice decided: before anything is recorded, from what the
 * two nodes can do (their kernel features, from `criu check --feature` at each agent's start);
 * then, before the program stops, from a look at the program itself (its size, and what a lazy
 * move would break). A strategy that cannot be used is refused with the reason, and nothing stops.
 */
import { GodwitError, type NodeFeatures, type ProcInspection, type Strategy, sizeInWords } from '@godwit/schemas';

export interface Choice {
  strategy: 'full' | 'lazy';
  reason: string;
}

export interface Ends {
  from: { name: string; features: NodeFeatures | null };
  to: { name: string; features: NodeFeatures | null };
}

function unavailable(strategy: string, why: string): GodwitError {
  return new GodwitError('GODWIT_ERR_STRATEGY_UNAVAILABLE', `${strategy} migration cannot be used: ${why}; the process was not stopped`, { strategy });
}

/** nodes that lack a feature, with what their agents reported */
function lacking(ends: Ends, has: (f: NodeFeatures) => boolean): string[] {
  return [ends.from, ends.to].filter((n) => !n.features || !has(n.features)).map((n) => n.name);
}

const noUffd = (without: string[]) =>
  `it needs userfaultfd, and ${without.join(' and ')} cannot provide it (\`criu check --feature uffd-noncoop\` fails there)`;

/** Refuses, before anything is recorded, a strategy the two nodes cannot do. */
export function checkNodes(asked: Strategy, ends: Ends): void {
  if (asked === 'precopy') {
    const without = lacking(ends, (f) => f.dirtyTracking);
    if (without.length) {
      throw unavailable('pre-copy', `it needs memory dirty tracking, and the kernel of ${without.join(' and ')} has none (\`criu check --feature mem_dirty_track\` fails there)`);
    }
    throw unavailable('pre-copy', 'godwit does not do pre-copy rounds yet; use --strategy lazy or full');
  }
  if (asked === 'lazy') {
    const without = lacking(ends, (f) => f.lazyPages);
    if (without.length) throw unavailable('lazy', noUffd(without));
  }
}

/**
 * Copy-on-write sharing a lazy move may lose before auto copies the tree whole instead: past 2 %
 * of the tree's memory (and 4 MiB, below which the whole copy gains nothing worth its longer stop)
 */
const COW_LOSS_TOLERATED = 0.02;
const COW_LOSS_IGNORED_BYTES = 4 * 1024 * 1024;

/** why a lazy move would grow the tree's memory past what auto tolerates; null where it would not */
function sharingLost(program: ProcInspection): string | null {
  const extra = program.copyOnWriteExtraBytes;
  // resident sizes count a shared page once per process: the tree holds its sum less the extra
  const held = Math.max(1, program.residentBytes - extra);
  if (extra < COW_LOSS_IGNORED_BYTES || extra <= COW_LOSS_TOLERATED * held) return null;
  return `its processes share memory copy-on-write, which a lazy move would copy once per process: ${sizeInWords(extra)} more than the ${sizeInWords(held)} the tree holds (a full copy keeps the sharing)`;
}

/** The strategy to use, once the program's node has looked at it. */
export function chooseStrategy(asked: Strategy, ends: Ends, program: ProcInspection): Choice {
  checkNodes(asked, ends);
  const size = sizeInWords(program.residentBytes);
  if (asked === 'full') return { strategy: 'full', reason: 'full copy, as asked' };
  if (asked === 'lazy') {
    if (program.lazyReasons.length) throw unavailable('lazy', program.lazyReasons.join('; '));
    const lost = sharingLost(program);
    return { strategy: 'lazy', reason: `lazy, as asked: ${size} resident follows on demand${lost ? `; but ${lost}` : ''}` };
  }
  const without = lacking(ends, (f) => f.lazyPages);
  if (without.length) return { strategy: 'full', reason: `auto: full copy, as lazy ${noUffd(without)}` };
  if (program.lazyReasons.length) return { strategy: 'full', reason: `auto: full copy, as it cannot move lazily: ${program.lazyReasons.join('; ')}` };
  const lost = sharingLost(program);
  if (lost) return { strategy: 'full', reason: `auto: full copy, as ${lost}` };
  // whatever the size: a lazy move stops a program for less than a whole copy does, small ones
  // too (the figures: README, "Lazy migration")
  return { strategy: 'lazy', reason: `auto: lazy, as ${size} resident runs again before its memory follows: shorter stopped than a whole copy` };
}
