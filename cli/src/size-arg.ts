/** A size on the command line: bytes, or a number with K, M, G or T (powers of 1024), e.g. 64M or 1.5G. */
import { UsageError } from './errors.js';

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

export function sizeArg(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  const bytes = m ? Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!) : NaN;
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`${what} must be a size such as 64M, 1G or 1048576 (bytes), not '${text}'`);
  return bytes;
}
