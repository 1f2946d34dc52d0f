/**
 * How stale a stored "last used" time may be, ms: usage (which identities a region served, and
 * when each identity last authenticated) ranks identities for prewarm snapshots and tells the
 * backup which identities were active in the last days, and neither needs it to the second.
 *
 * A region reports an identity again only once its newest authentication is this far past the
 * time it last reported, and global writes a newer time only once it is this far past the stored
 * one. Without it a fleet's steady traffic made every region send, and global rewrite, one usage
 * row and one app row per active identity on every report: a second's worth of work in global's
 * writer, every few seconds, for times nobody reads at that precision.
 */
export const USAGE_PRECISION_MS = 60_000;
