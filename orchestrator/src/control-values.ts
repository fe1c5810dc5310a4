/** What a program may write into its control files, read strictly: a bad value is refused with why. */
import { GodwitError } from '@godwit/schemas';

const SUFFIX: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** `needmem`: bytes, or with a K, M or G suffix (powers of 1024, as in MOSIX's -m and free(1)) */
export function parseNeedMem(text: string): number {
  const m = /^(\d{1,15})\s*([KMG]?)i?B?$/i.exec(text.trim());
  const bytes = m ? Number(m[1]) * SUFFIX[m[2]!.toUpperCase()]! : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `needmem takes a number of bytes, with K, M or G for KiB, MiB or GiB (like 512M), not '${text.trim()}'`);
  }
  return bytes;
}

/** `lock`: 1 (never migrate automatically) or 0 */
export function parseLock(text: string): boolean {
  const v = text.trim();
  if (v !== '0' && v !== '1') throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `lock takes 1 (never move automatically) or 0, not '${v}'`);
  return v === '1';
}

/** `migrate`: a node name, or `home` (which the migrator knows) */
export function parseTarget(text: string): string {
  const v = text.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v)) throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `migrate takes a node name or 'home', not '${v}'`);
  return v;
}

/** `checkpoint`: 1 takes one */
export function parseCheckpoint(text: string): void {
  const v = text.trim();
  if (v !== '1') throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `checkpoint takes 1 (take one now), not '${v}'`);
}
