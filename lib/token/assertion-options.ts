import { positive } from '../config/index.js';
import { AssertionPolicy } from './assertion-policy.js';

const wholeSecondsUpToOneDay = (value: unknown): string | undefined =>
  positive(value) ?? (Number(value) <= 86_400_000 && Number(value) % 1000 === 0 ? undefined : 'must be whole seconds, at most 24h');

/** Client assertion settings every fault domain that issues tokens takes (global, regional, backup). */
export const ASSERTION_OPTIONS = {
  'assertion-max-lifetime': {
    type: 'duration',
    describe: 'longest client assertion lifetime accepted (exp - iat, or exp - now without iat)',
    default: '1h',
    check: wholeSecondsUpToOneDay,
  },
  'assertion-replay-capacity': {
    type: 'int',
    describe: 'most assertion ids held for applications that refuse assertion reuse (past it they are answered overloaded)',
    default: '100000',
    check: positive,
  },
} as const;

/** The policy a domain builds from its parsed {@link ASSERTION_OPTIONS}. */
export function assertionPolicyFromConfig(config: { readonly 'assertion-max-lifetime': number; readonly 'assertion-replay-capacity': number }): AssertionPolicy {
  return new AssertionPolicy({ maxLifetimeSeconds: config['assertion-max-lifetime'] / 1000, replayCapacity: config['assertion-replay-capacity'] });
}
