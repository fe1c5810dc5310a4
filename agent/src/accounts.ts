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
const accounts = new Map<string, { at: number; answer: Promise<Account> }>();
const namesOfUids = new Map<number, { at: number; answer: Promise<string> }>();

/** `lookUp(key)` once per ANSWER_TTL_MS; an answer that failed is not kept */
function remembered<K, T>(kept: Map<K, { at: number; answer: Promise<T> }>, key: K, lookUp: () => Promise<T>): Promise<T> {
  const answer = kept.get(key);
  if (answer && Date.now() - answer.at < ANSWER_TTL_MS) return answer.answer;
  const entry = { at: Date.now(), answer: lookUp() };
  kept.set(key, entry);
  // an account that is not there yet may be made any moment: only answers that found one stay
  entry.answer.catch(() => {
    if (kept.get(key) === entry) kept.delete(key);
  });
  return entry.answer;
}

export function resolveAccount(name: string, node: string): Promise<Account> {
  return remembered(accounts, name, () => lookUp(name, node));
}

/** the name of the account with this uid (a caller on the local socket), through the same database */
export function accountNameOf(uid: number, node: string): Promise<string> {
  return remembered(namesOfUids, uid, async () => {
    const fields = await passwdEntry(String(uid));
    if (fields?.[2] !== String(uid)) {
      throw new GodwitError('GODWIT_ERR_NO_ACCOUNT', `uid ${uid} has no account name on ${node} (getent passwd ${uid} finds none): godwit knows users by their account names`, { uid, node });
    }
    return fields[0]!;
  });
}

/** the fields of KEY's line in the user database (a name or a uid), or undefined when it has none */
async function passwdEntry(key: string): Promise<string[] | undefined> {
  const passwd = await execa('getent', ['passwd', '--', key], { reject: false, timeout: 10_000 });
  const fields = passwd.exitCode === 0 ? passwd.stdout.split('\n')[0]!.split(':') : [];
  return fields.length >= 7 ? fields : undefined;
}

async function lookUp(name: string, node: string): Promise<Account> {
  const fields = await passwdEntry(name);
  if (fields?.[0] !== name) {
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
