/** The one place that runs `nft`: removing the network lock table CRIU leaves after a dump. */
import { execa } from 'execa';

/**
 * CRIU locks a dumped tree's TCP connections with table `inet CRIU-<root pid>` in the node's
 * network namespace; only a restore in the same namespace removes it. After the program resumed
 * elsewhere (or the dump failed) the table would keep blocking those ports here.
 */
export async function removeCriuLockTable(rootPid: number): Promise<boolean> {
  const listed = await execa('nft', ['list', 'tables'], { reject: false });
  const name = `CRIU-${rootPid}`;
  const found = listed.stdout.split('\n').some((line) => line.trim() === `table inet ${name}`);
  if (!found) return false;
  await execa('nft', ['delete', 'table', 'inet', name], { reject: false });
  return true;
}
