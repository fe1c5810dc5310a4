/**
 * Credentials for one move each, kept in this (destination) agent's memory only. Before a
 * transfer the orchestrator asks for one (POST /v1/images/MIGRATION/expect) and hands it, not this
 * node's token, to the source: it lets its holder PUT that migration's images here once, within
 * the hour, and nothing else. So no agent ever holds another node's token, and a credential
 * seen in transit opens nothing once its move has begun or ended.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { GodwitError, type ExpectResult } from '@godwit/schemas';

/** how long a credential is good for, unused: a transfer starts seconds after it is made */
export const MOVE_CREDENTIAL_TTL_MS = 60 * 60_000;

// only digests are kept, of one length: a comparison's time says nothing of a secret's bytes
const digest = (secret: string): Buffer => createHash('sha256').update(secret).digest();

export function createMoveCredentials(opts: { ttlMs?: number; now?: () => number } = {}) {
  const ttlMs = opts.ttlMs ?? MOVE_CREDENTIAL_TTL_MS;
  const now = opts.now ?? Date.now;
  const expected = new Map<number, { digest: Buffer; expiresAt: number }>();

  function dropExpired(): void {
    const t = now();
    for (const [mid, c] of expected) if (c.expiresAt <= t) expected.delete(mid);
  }

  return {
    /** A fresh credential for the images of migration `migrationId`; one given before for it no longer works. */
    issue(migrationId: number): ExpectResult {
      dropExpired();
      const credential = randomBytes(32).toString('hex');
      const expiresAt = now() + ttlMs;
      expected.set(migrationId, { digest: digest(credential), expiresAt });
      return { credential, expiresAt };
    },

    /**
     * Uses up the credential of migration `migrationId`: throws GODWIT_ERR_UNAUTHORIZED unless
     * `given` is the one issued for it, unused and unexpired. A wrong one leaves the right one
     * usable, so that a stranger's guess cannot cancel a move.
     */
    take(migrationId: number, given: string): void {
      dropExpired();
      const c = expected.get(migrationId);
      const right = c !== undefined && timingSafeEqual(digest(given), c.digest);
      if (!right) {
        throw new GodwitError(
          'GODWIT_ERR_UNAUTHORIZED',
          `the images of migration ${migrationId} are taken only with the credential this node gave for that move, once, within ${ttlMs / 60_000} minutes: this one is not it, was used already, or expired`,
          { migrationId },
        );
      }
      expected.delete(migrationId);
    },

    /** The move ended (its images are discarded here): its credential no longer works. */
    revoke(migrationId: number): void {
      expected.delete(migrationId);
    },
  };
}

export type MoveCredentials = ReturnType<typeof createMoveCredentials>;
