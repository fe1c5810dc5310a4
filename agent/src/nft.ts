/** The one place that runs `nft`: finding and removing the network lock tables CRIU leaves. */
import { execa } from 'execa';

/** Names of CRIU's lock tables (`inet CRIU-<run id>`) in this node's network namespace. */
export async function criuLockTables(): Promise<string[]> {
  const listed = await execa('nft', ['list', 'tables'], { reject: false });
  return listed.stdout
    .split('\n')
    .map((line) => /^table inet (CRIU-\S+)$/.exec(line.trim())?.[1])
    .filter((name): name is string => name !== undefined);
}

export async function removeLockTables(names: readonly string[]): Promise<void> {
  for (const name of names) await execa('nft', ['delete', 'table', 'inet', name], { reject: false });
}
