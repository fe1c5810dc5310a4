/**
 * The local cluster's second user is a real, unprivileged Unix account, so that what a user may
 * and may not do on a node is tried for real. Made once, kept like an installed package (an
 * account removed while a program or a file of it lives would leave that orphaned).
 */
import { execa } from 'execa';
import { CliError } from '../errors.js';

export const GUEST_ACCOUNT = 'godwit-guest';

export interface AccountIds {
  uid: number;
  gid: number;
}

async function idsOf(name: string): Promise<AccountIds | undefined> {
  const res = await execa('getent', ['passwd', '--', name], { reject: false });
  const f = res.exitCode === 0 ? res.stdout.split(':') : [];
  return f.length >= 7 ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
}

/** the guest account, made when missing: no home, no login shell, a group of its own */
export async function ensureGuestAccount(): Promise<AccountIds> {
  const have = await idsOf(GUEST_ACCOUNT);
  if (have) return have;
  const made = await execa('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--', GUEST_ACCOUNT], { reject: false });
  const ids = await idsOf(GUEST_ACCOUNT);
  if (!ids) throw new CliError(`could not make the guest's Unix account ${GUEST_ACCOUNT}: ${made.stderr.trim() || `useradd exited ${made.exitCode}`}`);
  return ids;
}
