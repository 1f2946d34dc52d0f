export {
  createDevCa,
  generateCa,
  issueServerCert,
  loadOrIssueServerCert,
  certificateFits,
  DEFAULT_SERVER_HOSTS,
} from './dev-ca.js';
export type { CertificateAuthority, IssuedCertificate, ServerCertOptions } from './dev-ca.js';
