/**
 * Token comparison that takes the same time wherever two tokens differ: a byte-by-byte `===`
 * stops at the first difference, and its timing lets a caller guess a token a byte at a time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

// digests have one length, so neither the comparison nor its refusal tells a token's length
const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

export function sameToken(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The holder of the token `given`, compared against every holder so that the time says nothing of which. */
export function holderOf<T extends { token: string }>(holders: readonly T[], given: string): T | undefined {
  let found: T | undefined;
  for (const h of holders) if (sameToken(given, h.token) && found === undefined) found = h;
  return found;
}
