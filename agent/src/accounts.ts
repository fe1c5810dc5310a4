/**
 * The Unix accounts programs run as, looked up on this node through the system's user database
 * (NSS: /etc/passwd, LDAP, sssd alike), the one place that runs `getent` and `id`. A user of the
 * API is an account here only if this node says so: the orchestrator names it, the node decides
 * who that is.
 */
import { statSync } from 'node:fs';
import { execa } from 'execa';
import { GodwitError } from '@godwit/schemas';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  /** every group it is in, its primary one included */
  groups: number[];
  home: string;
}

export async function resolveAccount(name: string, node: string): Promise<Account> {
  const passwd = await execa('getent', ['passwd', '--', name], { reject: false, timeout: 10_000 });
  const fields = passwd.exitCode === 0 ? passwd.stdout.split('\n')[0]!.split(':') : [];
  if (fields.length < 7 || fields[0] !== name) {
    throw new GodwitError('GODWIT_ERR_NO_ACCOUNT', `there is no Unix account '${name}' on ${node}: a user runs programs only on nodes where their account exists`, { account: name, node });
  }
  const ids = await execa('id', ['-G', '--', name], { reject: false, timeout: 10_000 });
  if (ids.exitCode !== 0) {
    throw new GodwitError('GODWIT_ERR_NO_ACCOUNT', `the groups of Unix account '${name}' on ${node} cannot be read: ${ids.stderr.trim() || `id exited ${ids.exitCode}`}`, { account: name, node });
  }
  return {
    name,
    uid: Number(fields[2]),
    gid: Number(fields[3]),
    groups: ids.stdout.trim().split(/\s+/).filter(Boolean).map(Number),
    home: fields[5]!,
  };
}

/** how the keeper takes an owner (agent/keeper/keeper.c, GODWIT_KEEPER_USER) */
export function keeperUser(a: Account): string {
  return `${a.uid} ${a.gid} ${a.groups.join(',')}`;
}

/** the uid and gid a running program has (its keeper made them its owner's) */
export interface ProcOwner {
  uid: number;
  gid: number;
}

export function ownerOfPid(pid: number): ProcOwner {
  const st = statSync(`/proc/${pid}`);
  return { uid: st.uid, gid: st.gid };
}
