/**
 * The Unix accounts programs run as, looked up on this node through the system's user database
 * (NSS: /etc/passwd, LDAP, sssd alike), the one place that runs `getent` and `id`. A user of the
 * API is an account here only if this node says so: the orchestrator names it, the node decides
 * who that is.
 */
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

/**
 * Answers stay this long, so that a move's restore, timed in milliseconds while the program is
 * stopped, does not wait for two programs to run: a change to an account (a group added) reaches
 * this node's launches and restores within that time.
 */
const ANSWER_TTL_MS = 30_000;
const answers = new Map<string, { at: number; account: Promise<Account> }>();

export function resolveAccount(name: string, node: string): Promise<Account> {
  const kept = answers.get(name);
  if (kept && Date.now() - kept.at < ANSWER_TTL_MS) return kept.account;
  const entry = { at: Date.now(), account: lookUp(name, node) };
  answers.set(name, entry);
  // an account that is not there yet may be made any moment: only answers that found one stay
  entry.account.catch(() => {
    if (answers.get(name) === entry) answers.delete(name);
  });
  return entry.account;
}

async function lookUp(name: string, node: string): Promise<Account> {
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
