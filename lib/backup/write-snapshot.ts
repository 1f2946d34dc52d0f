import { createHash } from 'node:crypto';
import type { ExportSigner } from './export-key.js';
import { SIGNATURE_ALG, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type SnapshotContent, type SnapshotHeader, type SnapshotSignature } from './snapshot-format.js';

/**
 * Encodes a snapshot: header line, signature line, then one NDJSON record per signing key,
 * tenant and identity. The signature covers the header, the header pins the body's digest.
 */
export function encodeSnapshot(content: SnapshotContent, signer: ExportSigner): Buffer {
  const lines: string[] = [];
  for (const signingKey of content.signingKeys) lines.push(JSON.stringify({ signingKey }));
  for (const tenant of content.tenants) lines.push(JSON.stringify({ tenant }));
  for (const identity of content.identities) lines.push(JSON.stringify({ identity }));
  const body = Buffer.from(lines.length === 0 ? '' : `${lines.join('\n')}\n`, 'utf8');
  const header: SnapshotHeader = {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    revision: content.revision,
    createdAtMs: content.createdAtMs,
    counts: { tenants: content.tenants.length, identities: content.identities.length, signingKeys: content.signingKeys.length },
    bodyBytes: body.length,
    sha256: createHash('sha256').update(body).digest('base64url'),
  };
  const headerLine = Buffer.from(JSON.stringify(header), 'utf8');
  const signature: SnapshotSignature = { alg: SIGNATURE_ALG, kid: signer.kid, signature: signer.sign(headerLine).toString('base64url') };
  return Buffer.concat([headerLine, Buffer.from(`\n${JSON.stringify(signature)}\n`, 'utf8'), body]);
}
