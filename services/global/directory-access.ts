import { status, type Metadata, type ServerWritableStream, type ServiceDefinition, type UntypedHandleCall, type UntypedServiceImplementation } from '@grpc/grpc-js';

/**
 * What one mesh member may do on DirectoryService. The rights come from who the caller is (its
 * certificate's SPIFFE id, or the member a development token was issued for), never from the
 * request: a regional registers only `regional/<its region>` and reports usage only for its
 * region; the backup only registers its own key; admin only reads. Global registers its own key
 * in-process, and gateways hold no signing key, so neither is granted anything here.
 */
export interface DirectoryRole {
  /** The mesh member name (`regional-eastus`, `backup`, `admin`). */
  member: string;
  /** DirectoryService methods (ts-proto names) the member may call. */
  methods: ReadonlySet<string>;
  /** The one signing-key domain the member may register, when it may register one. */
  signingDomain?: string;
  /** The region the member serves: its lookups, snapshots and usage reports are for this region only. */
  region?: string;
}

const REGIONAL = /^regional-([a-z][a-z0-9-]{0,31})$/;
const REGIONAL_METHODS: ReadonlySet<string> = new Set(['getSnapshot', 'lookupIdentity', 'watch', 'registerSigningKey', 'reportUsage']);
const BACKUP_METHODS: ReadonlySet<string> = new Set(['registerSigningKey']);
const ADMIN_METHODS: ReadonlySet<string> = new Set(['getSnapshot', 'lookupIdentity', 'watch']);

/** The rights of mesh member `member` on DirectoryService; undefined for a member with none. */
export function directoryRole(member: string): DirectoryRole | undefined {
  const regional = REGIONAL.exec(member);
  if (regional !== null) return { member, methods: REGIONAL_METHODS, signingDomain: `regional/${regional[1]!}`, region: regional[1]! };
  if (member === 'backup') return { member, methods: BACKUP_METHODS, signingDomain: 'backup' };
  if (member === 'admin') return { member, methods: ADMIN_METHODS };
  return undefined;
}

/** A call as the access check sees it: metadata, and the TLS peer when there is one. */
export interface CallerCall {
  metadata: Metadata;
  getAuthContext?(): { sslPeerCertificate?: { subjectaltname?: string } } | null;
}

/** Names the mesh member behind a call (certificate or token), undefined when none is proven. */
export type CallerIdentity = (call: CallerCall) => string | undefined;

const roles = new WeakMap<object, DirectoryRole>();

/** The role a guarded handler's call was admitted with. */
export function roleOf(call: object): DirectoryRole {
  const role = roles.get(call);
  if (role === undefined) throw new Error('call was not admitted by guardDirectory');
  return role;
}

/**
 * Wraps every handler so a call runs only when `identify` names a member whose role allows the
 * method: UNAUTHENTICATED without a proven member, PERMISSION_DENIED for a member without the
 * right. The admitted role is available to the handler through {@link roleOf}.
 */
export function guardDirectory(definition: ServiceDefinition, implementation: UntypedServiceImplementation, identify: CallerIdentity): UntypedServiceImplementation {
  const admit = (method: string, call: CallerCall): { code: status; details: string } | undefined => {
    const member = identify(call);
    if (member === undefined) return { code: status.UNAUTHENTICATED, details: 'missing or wrong mesh credential (mesh certificate, or authorization: Bearer <member token>)' };
    const role = directoryRole(member);
    if (role === undefined || !role.methods.has(method)) return { code: status.PERMISSION_DENIED, details: `mesh member ${member} may not call ${method}` };
    roles.set(call, role);
    return undefined;
  };
  const guarded: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(implementation)) {
    const def = definition[method];
    if (def === undefined) throw new Error(`no method ${method} in the service definition`);
    if (def.requestStream) throw new Error(`client-streaming method ${method} is not supported`);
    if (def.responseStream) {
      guarded[method] = ((call: ServerWritableStream<unknown, unknown>) => {
        const refusal = admit(method, call);
        if (refusal !== undefined) call.emit('error', refusal);
        else (handler as (c: typeof call) => void)(call);
      }) as UntypedHandleCall;
    } else {
      guarded[method] = ((call: CallerCall, callback: (err: unknown) => void) => {
        const refusal = admit(method, call);
        if (refusal !== undefined) callback(refusal);
        else (handler as (c: typeof call, cb: typeof callback) => void)(call, callback);
      }) as UntypedHandleCall;
    }
  }
  return guarded;
}
