export {
  createDevCa,
  generateCa,
  issueServerCert,
  loadOrIssueServerCert,
  certificateFits,
  DEFAULT_SERVER_HOSTS,
} from './dev-ca.js';
export type { CertificateAuthority, IssuedCertificate, ServerCertOptions } from './dev-ca.js';
export { createMeshCa, issueMeshCert, loadOrIssueMeshCert } from './mesh-certs.js';
export type { MeshCertFiles } from './mesh-certs.js';
export { MESH_TLS_OPTIONS, meshTlsFiles } from './mesh-options.js';
export type { MeshTlsConfig } from './mesh-options.js';
