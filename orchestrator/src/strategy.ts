/**
 * Which way a migration moves memory, decided before anything stops: the strategy asked for if
 * both nodes can do it, or (auto) the best the two nodes and godwit allow. The nodes' kernel
 * features come from `criu check --feature` at each agent's start.
 */
import { GodwitError, type NodeFeatures, type Strategy } from '@godwit/schemas';

export interface Choice {
  strategy: 'full';
  reason: string;
}

interface Ends {
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

export function chooseStrategy(asked: Strategy, ends: Ends): Choice {
  switch (asked) {
    case 'full':
      return { strategy: 'full', reason: 'full copy, as asked' };
    case 'precopy': {
      const without = lacking(ends, (f) => f.dirtyTracking);
      if (without.length) {
        throw unavailable('pre-copy', `it needs memory dirty tracking, and the kernel of ${without.join(' and ')} has none (\`criu check --feature mem_dirty_track\` fails there)`);
      }
      throw unavailable('pre-copy', 'godwit does not do pre-copy rounds yet; use --strategy full');
    }
    case 'lazy': {
      const without = lacking(ends, (f) => f.lazyPages);
      if (without.length) {
        throw unavailable('lazy', `it needs userfaultfd, and ${without.join(' and ')} cannot provide it (\`criu check --feature uffd-noncoop\` fails there)`);
      }
      throw unavailable('lazy', 'godwit does not move memory on demand yet; use --strategy full');
    }
    case 'auto':
      return { strategy: 'full', reason: 'auto: full copy, the one strategy godwit has so far (lazy and pre-copy are not built yet)' };
  }
}
