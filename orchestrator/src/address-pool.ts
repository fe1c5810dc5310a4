/**
 * Programs' own addresses (mosrun --ip): a configured range of the cluster network, each address
 * held by one live process at a time. What is held is the processes' rows themselves (their
 * `address`, under a unique index over live states), so an address comes back to the pool in the
 * same write that ends its process, and an orchestrator restarted at any moment sees the pool as
 * it was.
 */
import { GodwitError, type OrchestratorConfig, type ProgramNet } from '@godwit/schemas';
import type { Db } from './db/index.js';

type AddressConfig = NonNullable<OrchestratorConfig['addresses']>;

export function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

export function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** Problems with the configured range, in words (empty: none); nodes' own addresses are listed so that none is handed out. */
export function addressRangeProblems(cfg: AddressConfig, nodeAddresses: readonly string[]): string[] {
  const first = ipv4ToNumber(cfg.first);
  const last = ipv4ToNumber(cfg.last);
  const problems: string[] = [];
  if (last < first) problems.push(`/addresses: last (${cfg.last}) comes before first (${cfg.first})`);
  const mask = cfg.prefixLength === 32 ? 0 : 2 ** (32 - cfg.prefixLength);
  if (mask && Math.floor(first / mask) !== Math.floor(last / mask)) problems.push(`/addresses: ${cfg.first} and ${cfg.last} are not in one /${cfg.prefixLength} network`);
  for (const a of nodeAddresses) {
    const n = ipv4ToNumber(a);
    if (n >= first && n <= last) problems.push(`/addresses: the range holds ${a}, a node's own address`);
  }
  if (cfg.gateway !== undefined) {
    const g = ipv4ToNumber(cfg.gateway);
    if (g >= first && g <= last) problems.push(`/addresses: the range holds the gateway ${cfg.gateway}`);
  }
  return problems;
}

/** Whether a start asks for an address: what the request says, else the cluster's default. */
export function wantsAddress(cfg: Readonly<OrchestratorConfig>, ip: boolean | undefined): boolean {
  return ip ?? cfg.addresses?.default ?? false;
}

/**
 * Gives process `id` (just inserted, running) the lowest free address, in one transaction with
 * the check. No range configured, or none free: an error the caller can act on.
 */
export function takeAddress(db: Db, cfg: Readonly<OrchestratorConfig>, id: number): ProgramNet {
  const range = cfg.addresses;
  if (!range) throw new GodwitError('GODWIT_ERR_NO_ADDRESS', 'this cluster has no address pool for --ip: an administrator sets /addresses (first, last, prefixLength) in the orchestrator\'s configuration');
  const address = db.tx(() => {
    const held = new Set(db.q.addressesHeld.all().map((r) => r.address));
    for (let n = ipv4ToNumber(range.first); n <= ipv4ToNumber(range.last); n++) {
      const a = numberToIpv4(n);
      if (held.has(a)) continue;
      db.q.setAddress.run({ id, address: a });
      return a;
    }
    return undefined;
  });
  if (!address) throw new GodwitError('GODWIT_ERR_NO_ADDRESS', `every address of the pool (${range.first} to ${range.last}) is held by a running or frozen program: one must end before another program starts with --ip`);
  return { address, prefixLength: range.prefixLength, ...(range.gateway ? { gateway: range.gateway } : {}) };
}

/**
 * A program with its own address cannot move, freeze or be checkpointed yet: refused before
 * anything stops (its network namespace would have to be dumped with it and made again, with the
 * same address and link, where it is restored; README "Own addresses").
 */
export function requireAddressStays(proc: { id: number; node: string; address: string | null }): void {
  if (proc.address === null) return;
  throw new GodwitError(
    'GODWIT_ERR_ADDRESS_CANNOT_MOVE',
    `process ${proc.id} has its own address ${proc.address} (mosrun --ip): moving, freezing and checkpointing such a program are not built yet (its network namespace and link must be made again with that address where it is restored); it runs on at ${proc.node}, untouched`,
    { address: proc.address },
  );
}
