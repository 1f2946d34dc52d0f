import { createHash, timingSafeEqual } from 'node:crypto';
import type { ExportVerifier } from './export-key.js';
import { SnapshotRejected } from './snapshot-error.js';
import { SIGNATURE_ALG, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type SnapshotContent, type SnapshotHeader, type SnapshotRecord, type SnapshotSignature } from './snapshot-format.js';

const NEWLINE = 0x0a;

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw new SnapshotRejected(what === 'signature' ? 'unsigned' : 'bad-header', `${what} line is not JSON`, { cause: err });
  }
}

function checkHeader(h: SnapshotHeader): void {
  if (typeof h !== 'object' || h === null || h.format !== SNAPSHOT_FORMAT) throw new SnapshotRejected('bad-header', 'not an authmesh backup snapshot');
  if (h.version !== SNAPSHOT_VERSION) throw new SnapshotRejected('unsupported-version', `snapshot version ${String(h.version)} is not supported (want ${SNAPSHOT_VERSION})`);
  const whole = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!whole(h.revision) || !whole(h.createdAtMs) || !whole(h.bodyBytes) || typeof h.sha256 !== 'string' || typeof h.counts !== 'object' || h.counts === null) {
    throw new SnapshotRejected('bad-header', 'snapshot header is incomplete');
  }
}

/** Checks the signature and digest only, and returns the verified header and body bytes. */
export function verifySnapshot(data: Buffer, verifier: ExportVerifier): { header: SnapshotHeader; body: Buffer } {
  const end1 = data.indexOf(NEWLINE);
  if (end1 < 0) throw new SnapshotRejected('truncated', 'no complete header line');
  const headerLine = data.subarray(0, end1);
  const end2 = data.indexOf(NEWLINE, end1 + 1);
  if (end2 < 0) throw new SnapshotRejected('unsigned', 'no signature line');
  const sig = parseJson<SnapshotSignature>(data.subarray(end1 + 1, end2), 'signature');
  if (typeof sig !== 'object' || sig === null || typeof sig.signature !== 'string' || sig.alg !== SIGNATURE_ALG) {
    throw new SnapshotRejected('unsigned', 'signature line has no ES256 signature');
  }
  if (sig.kid !== verifier.kid) throw new SnapshotRejected('unknown-key', `signed with key ${String(sig.kid)}, expected ${verifier.kid}`);
  if (!verifier.verify(headerLine, Buffer.from(sig.signature, 'base64url'))) {
    throw new SnapshotRejected('bad-signature', 'signature does not verify with the export public key');
  }
  // Only now is the header trusted; it pins the body.
  const header = parseJson<SnapshotHeader>(headerLine, 'header');
  checkHeader(header);
  const body = data.subarray(end2 + 1);
  if (body.length < header.bodyBytes) throw new SnapshotRejected('truncated', `body has ${body.length} of ${header.bodyBytes} bytes`);
  if (body.length > header.bodyBytes) throw new SnapshotRejected('digest-mismatch', `body has ${body.length - header.bodyBytes} bytes more than signed`);
  const digest = createHash('sha256').update(body).digest();
  const expected = Buffer.from(header.sha256, 'base64url');
  if (expected.length !== digest.length || !timingSafeEqual(expected, digest)) {
    throw new SnapshotRejected('digest-mismatch', 'body does not match the signed digest');
  }
  return { header, body };
}

/**
 * Verifies and decodes a snapshot. Throws {@link SnapshotRejected} for anything short of a
 * complete snapshot signed by the export key.
 */
export function readSnapshot(data: Buffer, verifier: ExportVerifier): SnapshotContent {
  const { header, body } = verifySnapshot(data, verifier);
  const content: SnapshotContent = { revision: header.revision, createdAtMs: header.createdAtMs, tenants: [], identities: [], signingKeys: [] };
  const text = body.toString('utf8');
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start) {
      let record: SnapshotRecord;
      try {
        record = JSON.parse(text.slice(start, end)) as SnapshotRecord;
      } catch (err) {
        throw new SnapshotRejected('bad-body', `record at byte ${start} is not JSON`, { cause: err });
      }
      if (record.identity !== undefined) content.identities.push(record.identity);
      else if (record.tenant !== undefined) content.tenants.push(record.tenant);
      else if (record.signingKey !== undefined) content.signingKeys.push(record.signingKey);
    }
    start = end + 1;
  }
  const c = header.counts;
  if (c.tenants !== content.tenants.length || c.identities !== content.identities.length || c.signingKeys !== content.signingKeys.length) {
    throw new SnapshotRejected('bad-body', 'record counts differ from the header');
  }
  return content;
}
