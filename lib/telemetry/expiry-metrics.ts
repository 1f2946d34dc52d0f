import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { metrics } from '@opentelemetry/api';

/** A certificate file a process serves or presents, by the name its metric carries. */
export interface WatchedCertificate {
  /** `certificate` label: `mesh` (mutual TLS inside the mesh), `grpc-public`, `https-public`. */
  name: string;
  file: string;
}

/** notAfter of the first certificate in a PEM file, seconds since the epoch. */
export function certificateExpirySeconds(file: string): number {
  return Math.floor(Date.parse(new X509Certificate(readFileSync(file)).validTo) / 1000);
}

/**
 * `authmesh_certificate_expiry_timestamp_seconds{certificate}`: when each certificate's validity
 * ends. The file is read again at a scrape only when its mtime changed, so a certificate renewed
 * on disk (cert-manager, a restart-free rotation) shows its new date. A file that cannot be read
 * or parsed reports nothing rather than a wrong date.
 */
export function certificateExpiryTelemetry(certs: readonly WatchedCertificate[]): void {
  if (certs.length === 0) return;
  const seen = certs.map((c) => ({ ...c, labels: Object.freeze({ certificate: c.name }), mtimeMs: -1, expiry: NaN }));
  metrics
    .getMeter('authmesh')
    .createObservableGauge('authmesh_certificate_expiry_timestamp_seconds', { description: 'When the certificate stops being valid (notAfter), seconds since the epoch', unit: 's' })
    .addCallback((result) => {
      for (const c of seen) {
        try {
          const mtimeMs = statSync(c.file).mtimeMs;
          if (mtimeMs !== c.mtimeMs) {
            c.expiry = certificateExpirySeconds(c.file);
            c.mtimeMs = mtimeMs;
          }
          result.observe(c.expiry, c.labels);
        } catch {
          c.mtimeMs = -1;
        }
      }
    });
}

/** The signing key a fault domain signs with now, as {@link signingKeyExpiryTelemetry} reads it. */
export interface SigningKeyAge {
  /** When the key in use was made, ms since the epoch. */
  readonly createdAtMs: number;
  /** Age at which it is replaced, ms; 0 never. */
  readonly rotateAfterMs: number;
}

/**
 * `authmesh_signing_key_expiry_timestamp_seconds{fault_domain}`: when the signing key in use is
 * due to be replaced (made + rotate-after). A rotation that cannot complete (global unreachable,
 * publishing refused) leaves the old key signing past this time. Nothing is reported when the key
 * never rotates.
 */
export function signingKeyExpiryTelemetry(faultDomain: string, key: () => SigningKeyAge | undefined): void {
  const labels = Object.freeze({ fault_domain: faultDomain });
  metrics
    .getMeter('authmesh')
    .createObservableGauge('authmesh_signing_key_expiry_timestamp_seconds', { description: 'When the signing key in use is due to be replaced, seconds since the epoch', unit: 's' })
    .addCallback((result) => {
      const k = key();
      if (k !== undefined && k.rotateAfterMs > 0) result.observe((k.createdAtMs + k.rotateAfterMs) / 1000, labels);
    });
}
