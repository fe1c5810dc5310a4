/**
 * File operations a recovery does on a user's behalf, with that user's rights: the one place
 * that runs godwit-as-owner (agent/keeper/as-owner.c), built next to the keeper, and how they
 * fail, there or in the keeper's opens for CRIU. Root would follow a symbolic link the user
 * planted to any file of the system, open what the user may not, copy setuid bits, and tell the
 * sizes of files the user may not see.
 */
import { constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { GodwitError } from '@godwit/schemas';
import { keeperUser, type Account } from './accounts.js';
import type { InheritedFile } from './criu.js';
import { errnoName, errnoReason } from './errno.js';
import type { KeeperEvent } from './keeper.js';

export interface OwnedCopy {
  /** in a directory only root may read */
  from: string;
  to: string;
  /** masked to 0777: never setuid, setgid or sticky */
  mode: number;
}

export function asOwnerPath(keeperPath: string): string {
  return join(dirname(keeperPath), 'godwit-as-owner');
}

const FILE_REASONS: Record<string, string> = {
  ELOOP: 'it is, or lies under, a symbolic link, which a recovery does not follow',
  ENOSYS: 'this kernel cannot open a file refusing symbolic links on the way (openat2 needs Linux 5.6)',
};

/** why the owner could not have a file: a symbolic link is refused, not followed */
export function fileReason(errno: number): string {
  const name = errnoName(errno);
  return `${FILE_REASONS[name] ?? errnoReason(errno)} (${name})`;
}

const access = (flags: number) => ['reading', 'writing', 'reading and writing'][flags & 3] ?? 'reading';

/**
 * A restore the keeper ended before CRIU ran, because it could not open a file for the program
 * as its owner; undefined where CRIU itself failed.
 */
export function openRefused(ev: Extract<KeeperEvent, { ev: 'restore-failed' }>, files: readonly InheritedFile[], account: string, node: string): GodwitError | undefined {
  const errno = ev.errno ?? 0;
  const details = { stage: ev.stage, errno: errnoName(errno) };
  if (ev.stage === 'account') {
    return new GodwitError('GODWIT_ERR_CANNOT_RESTORE', `could not take on the rights of ${account} on ${node} to open the program's files: ${errnoReason(errno)}; nothing was started`, details);
  }
  const f = files[ev.file ?? -1];
  if ((ev.stage !== 'open' && ev.stage !== 'seek') || !f) return undefined;
  const create = f.flags & constants.O_CREAT ? ' (or create it)' : '';
  return new GodwitError(
    'GODWIT_ERR_CANNOT_RESTORE',
    `${account} cannot ${ev.stage === 'seek' ? 'seek in' : 'open'} ${f.open} for ${access(f.flags)}${create} on ${node}: ${fileReason(errno)}; nothing was started`,
    { ...details, path: f.open },
  );
}

const STAGES: Record<string, (to: string) => string> = {
  source: (to) => `the checkpoint's copy of ${to} cannot be read`,
  open: (to) => `cannot write ${to}`,
  type: (to) => `${to} is not a regular file now`,
  chmod: (to) => `cannot set the mode of ${to}`,
  copy: (to) => `writing ${to} failed`,
  sync: (to) => `writing ${to} failed`,
};

/**
 * Writes each file back as the account: created or truncated, following no symbolic link,
 * its mode masked to 0777, synced. Throws, naming every file that could not be written.
 */
export async function copyAsOwner(helperPath: string, account: Account, files: readonly OwnedCopy[], node: string): Promise<void> {
  if (!files.length) return;
  const args = [keeperUser(account), 'copy', ...files.flatMap((f) => [f.from, f.to, (f.mode & 0o777).toString(8)])];
  const r = await execa(helperPath, args, { reject: false, timeout: 10 * 60_000 });
  if (r.exitCode !== 0 && r.exitCode !== 1) {
    throw new GodwitError('GODWIT_ERR_CANNOT_RESTORE', `could not write files back as ${account.name} on ${node}: ${r.stderr.trim() || r.message}`);
  }
  const failed = r.stdout
    .split('\n')
    .map((l) => /^(\d+) (\w+) (\d+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && m[2] !== 'ok')
    .map((m) => ({ path: files[Number(m[1])]!.to, stage: m[2]!, errno: Number(m[3]) }));
  if (r.exitCode === 1 && !failed.length) throw new GodwitError('GODWIT_ERR_CANNOT_RESTORE', `could not write files back as ${account.name} on ${node}: ${r.stdout.trim() || 'no report'}`);
  if (failed.length) {
    const why = failed.map((f) => `${(STAGES[f.stage] ?? STAGES.copy!)(f.path)}: ${f.stage === 'type' ? 'a recovery writes only regular files' : fileReason(f.errno)}`);
    throw new GodwitError(
      'GODWIT_ERR_CANNOT_RESTORE',
      `the files saved with the checkpoint could not be written back as ${account.name} on ${node}: ${why.join('; ')}; nothing was started`,
      { failed: failed.map((f) => ({ ...f, errno: errnoName(f.errno) })) },
    );
  }
}

/** a file's size as its owner sees it now, or the errno why they cannot (ELOOP: a symbolic link on the way) */
export type SizeNow = { size: number } | { errno: number };

/** paths per run of the helper, so that its arguments stay well under the kernel's limit */
const STAT_BATCH = 256;

/**
 * The size of each path now, looked at as the account, following no symbolic link: what the
 * account cannot reach, or reaches only through a link, has no size here.
 */
export async function sizesAsOwner(helperPath: string, account: Account, paths: readonly string[], node: string): Promise<SizeNow[]> {
  const sizes: SizeNow[] = [];
  for (let start = 0; start < paths.length; start += STAT_BATCH) {
    const batch = paths.slice(start, start + STAT_BATCH);
    const r = await execa(helperPath, [keeperUser(account), 'stat', ...batch], { reject: false, timeout: 60_000 });
    const lines = r.exitCode === 0 ? r.stdout.split('\n').map((l) => /^(\d+) (?:size (\d+)|(\d+))$/.exec(l)) : [];
    if (lines.length !== batch.length || lines.some((m, i) => m === null || Number(m[1]) !== i)) {
      throw new GodwitError('GODWIT_ERR_INTERNAL', `could not look at files as ${account.name} on ${node}: ${r.stderr.trim() || r.message || 'no report'}`);
    }
    for (const m of lines) sizes.push(m![2] !== undefined ? { size: Number(m![2]) } : { errno: Number(m![3]) });
  }
  return sizes;
}
