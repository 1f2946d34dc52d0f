import type { Identity } from '../../lib/directory/index.js';

/** Whether the backup may serve an identity, and if not, why. */
export type Coverage = 'covered' | 'never-authenticated' | 'outside-window' | 'posture-changed';

/**
 * The backup serves only identities that authenticated successfully through the primary within
 * `windowMs` and whose posture (disable, credential removal, role change) has not changed since:
 * a change after the last authentication is one the backup may not have seen the end of.
 */
export function coverageOf(identity: Identity, nowMs: number, windowMs: number): Coverage {
  const last = identity.lastAuthenticatedAtMs;
  if (last <= 0) return 'never-authenticated';
  if (nowMs - last > windowMs) return 'outside-window';
  if (identity.postureChangedAtMs >= last) return 'posture-changed';
  return 'covered';
}
