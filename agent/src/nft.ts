/** The one place that runs `nft`: finding and removing the network lock tables CRIU leaves. */
import { execa } from 'execa';

/** CRIU's lock tables (`inet CRIU-<run id>`) in the output of `nft list tables`. */
export function parseCriuLockTables(listing: string): string[] {
  return listing
    .split('\n')
    .map((line) => /^table inet (CRIU-\S+)$/.exec(line.trim())?.[1])
    .filter((name): name is string => name !== undefined);
}

/** Names of CRIU's lock tables in this node's network namespace. */
export async function criuLockTables(): Promise<string[]> {
  return parseCriuLockTables((await execa('nft', ['list', 'tables'], { reject: false })).stdout);
}

export async function removeLockTables(names: readonly string[]): Promise<void> {
  for (const name of names) await execa('nft', ['delete', 'table', 'inet', name], { reject: false });
}
