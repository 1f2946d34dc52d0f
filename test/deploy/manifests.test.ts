import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_MEMBERS } from '../../services/global/global-server.js';
import { directoryRole } from '../../services/global/directory-access.js';
import { meshIdentityOf } from '../../lib/tls/mesh-certs.js';
import { readYamlDocuments, renderKustomization, type K8sObject } from './render-kustomization.js';
import { containersOf, podSpecOf, REPO_ROOT, serviceContract, type Container } from './service-contract.js';

const K8S = path.join(REPO_ROOT, 'deploy', 'k8s');
const OVERLAYS = readdirSync(path.join(K8S, 'overlays')).sort();
const STORAGE = readdirSync(path.join(K8S, 'storage')).sort();

const rendered = new Map<string, K8sObject[]>();
for (const name of OVERLAYS) rendered.set(`overlays/${name}`, renderKustomization(path.join(K8S, 'overlays', name)));
for (const name of STORAGE) rendered.set(`storage/${name}`, renderKustomization(path.join(K8S, 'storage', name)));

const everyObject = (): Array<[string, K8sObject]> => [...rendered].flatMap(([where, objects]) => objects.map((o): [string, K8sObject] => [where, o]));
const workloads = (): Array<[string, K8sObject]> => everyObject().filter(([, o]) => podSpecOf(o) !== undefined);
const id = (o: K8sObject): string => `${o.kind}/${o.metadata.namespace ?? '-'}/${o.metadata.name}`;
const envOf = (c: Container): Map<string, string> => new Map((c.env ?? []).map((e) => [e.name, e.value ?? '<from a reference>']));

/** The Kubernetes model class for an apiVersion and kind, with the OpenAPI schema's validator. */
async function modelFor(apiVersion: string, kind: string): Promise<new (data: object) => { validate(): void }> {
  const mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, new (data: object) => { validate(): void }>;
  const model = mod[kind];
  if (model === undefined) throw new Error(`no model for ${apiVersion} ${kind}`);
  return model;
}

describe('deploy/k8s', () => {
  it('renders the global, backup, eastus and westus overlays when built with kustomize semantics', () => {
    assert.deepEqual(OVERLAYS, ['backup', 'eastus', 'global', 'westus']);
    for (const [where, objects] of rendered) assert.ok(objects.length > 0, `${where} renders nothing`);
  });

  it('passes the Kubernetes OpenAPI schema for every object when rendered', async () => {
    const problems: string[] = [];
    for (const [where, o] of everyObject()) {
      try {
        const Model = await modelFor(o.apiVersion, o.kind);
        new Model(o).validate();
      } catch (err) {
        problems.push(`${where} ${id(o)}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('puts global, backup and each region in its own namespace when rendered', () => {
    for (const name of OVERLAYS) {
      const objects = rendered.get(`overlays/${name}`)!;
      const namespaced = objects.filter((o) => o.kind !== 'Namespace');
      assert.ok(namespaced.every((o) => o.metadata.namespace === `authmesh-${name}`), `overlay ${name} leaks out of authmesh-${name}`);
      assert.ok(objects.some((o) => o.kind === 'Namespace' && o.metadata.name === `authmesh-${name}`), `overlay ${name} does not create its namespace`);
    }
  });

  it('runs global as one StatefulSet replica with a claim and scales regional and gateway with an HPA when rendered', () => {
    const global = rendered.get('overlays/global')!.find((o) => o.kind === 'StatefulSet')!;
    const spec = global.spec as { replicas: number; volumeClaimTemplates: unknown[] };
    assert.equal(spec.replicas, 1);
    assert.equal(spec.volumeClaimTemplates.length, 1);
    for (const region of ['eastus', 'westus']) {
      const objects = rendered.get(`overlays/${region}`)!;
      for (const name of ['regional', 'gateway']) {
        assert.ok(objects.some((o) => o.kind === 'Deployment' && o.metadata.name === name), `${region} has no ${name}`);
        const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === name);
        assert.equal((hpa?.spec as { scaleTargetRef?: { name: string } } | undefined)?.scaleTargetRef?.name, name, `${region} ${name} has no HPA`);
      }
    }
  });

  it('gives every workload a PodDisruptionBudget, a Service and topology spread that select its pods when rendered', () => {
    for (const [where, w] of workloads()) {
      const labels = ((w.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels);
      const matches = (selector: Record<string, string> | undefined): boolean =>
        selector !== undefined && Object.entries(selector).every(([k, v]) => labels[k] === v);
      const same = rendered.get(where)!.filter((o) => o.metadata.namespace === w.metadata.namespace);
      assert.ok(same.some((o) => o.kind === 'PodDisruptionBudget' && matches((o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels)), `${id(w)}: no PDB`);
      assert.ok(same.some((o) => o.kind === 'Service' && matches((o.spec as { selector?: Record<string, string> }).selector)), `${id(w)}: no Service`);
      const spread = podSpecOf(w)!.topologySpreadConstraints ?? [];
      assert.ok(spread.some((t) => t.topologyKey === 'topology.kubernetes.io/zone' && matches(t.labelSelector?.matchLabels)), `${id(w)}: no zone spread`);
    }
  });

  it('gives every container liveness and readiness probes that ask grpc.health.v1 over TLS, and cpu and memory limits, when rendered', () => {
    for (const [, w] of workloads()) {
      for (const c of containersOf(w)) {
        const where = `${id(w)} container ${c.name}`;
        // The kubelet's own gRPC probe speaks plaintext only; every port is TLS in production mode.
        for (const [kind, probe] of [['liveness', c.livenessProbe], ['readiness', c.readinessProbe]] as const) {
          const command = probe?.exec?.command ?? [];
          assert.equal(command[0], 'node', `${where}: ${kind} is not the health probe`);
          assert.match(command[1] ?? '', /^\/app\/dist\/cli\/health-probe\.js$/, `${where}: ${kind} is not the health probe`);
          assert.ok(existsSync(path.join(REPO_ROOT, command[1]!.replace(/^\/app\//, ''))), `${where}: ${command[1]} is not built`);
        }
        for (const r of ['cpu', 'memory']) {
          assert.ok(c.resources?.limits?.[r] !== undefined, `${where}: no ${r} limit`);
          assert.ok(c.resources?.requests?.[r] !== undefined, `${where}: no ${r} request`);
        }
      }
    }
  });

  it('runs every container as a non-root user with a read-only root filesystem and no capabilities when rendered', () => {
    for (const [, w] of workloads()) {
      const pod = podSpecOf(w)!;
      for (const c of [...containersOf(w), ...(pod.initContainers ?? [])]) {
        const where = `${id(w)} container ${c.name}`;
        const runAsNonRoot = c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
        const runAsUser = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
        assert.equal(runAsNonRoot, true, `${where}: runAsNonRoot`);
        assert.ok(runAsUser !== undefined && runAsUser !== 0, `${where}: runs as uid ${String(runAsUser)}`);
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: writable root filesystem`);
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: privilege escalation allowed`);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${where}: capabilities not dropped`);
      }
    }
  });

  it('sets every option a service requires, and only options it has, when rendered', () => {
    for (const [, w] of workloads()) {
      for (const c of containersOf(w)) {
        const contract = serviceContract(c);
        const env = envOf(c);
        const flags = new Set((c.args ?? []).slice(1).filter((a) => a.startsWith('--')).map((a) => a.slice(2).replace(/=.*$/, '')));
        for (const option of contract.options) {
          if (option.required) assert.ok(env.has(option.env) || flags.has(option.flag), `${id(w)} ${c.name}: ${option.env} is required by ${contract.main} but not set`);
        }
        const known = new Set(contract.options.map((o) => o.env));
        for (const name of env.keys()) if (name.startsWith('AUTHMESH_')) assert.ok(known.has(name), `${id(w)} ${c.name}: ${name} is not an option of ${contract.main}`);
      }
    }
  });

  it('starts every service with a valid configuration when given the rendered env', () => {
    for (const [, w] of workloads()) {
      for (const c of containersOf(w)) {
        const contract = serviceContract(c);
        const env = Object.fromEntries(envOf(c));
        assert.doesNotThrow(() => contract.parse((c.args ?? []).slice(1), env), `${id(w)} ${c.name}`);
      }
    }
  });

  it('serves on 0.0.0.0 at the container port and mounts every configured file path when rendered', () => {
    for (const [, w] of workloads()) {
      const pod = podSpecOf(w)!;
      for (const c of containersOf(w)) {
        const env = envOf(c);
        const listen = env.get('AUTHMESH_LISTEN');
        assert.ok(listen?.startsWith('0.0.0.0:'), `${id(w)} ${c.name}: listens on ${String(listen)}`);
        assert.ok((c.ports ?? []).some((p) => `0.0.0.0:${p.containerPort}` === listen), `${id(w)} ${c.name}: ${String(listen)} is no container port`);
        const mounts = c.volumeMounts ?? [];
        const claims = ((w.spec as { volumeClaimTemplates?: Array<{ metadata: { name: string } }> }).volumeClaimTemplates ?? []).map((t) => t.metadata.name);
        const volumes = new Set([...(pod.volumes ?? []).map((v) => v.name), ...claims]);
        for (const m of mounts) assert.ok(volumes.has(m.name), `${id(w)} ${c.name}: no volume ${m.name}`);
        for (const [name, value] of env) {
          if (!value.startsWith('/')) continue;
          assert.ok(mounts.some((m) => value === m.mountPath || value.startsWith(`${m.mountPath}/`)), `${id(w)} ${c.name}: ${name}=${value} is on no volume (the root filesystem is read-only)`);
        }
      }
    }
  });

  it('names each region in its regional and gateway when rendered', () => {
    for (const region of ['eastus', 'westus']) {
      for (const w of rendered.get(`overlays/${region}`)!.filter((o) => podSpecOf(o) !== undefined)) {
        for (const c of containersOf(w)) assert.equal(envOf(c).get('AUTHMESH_REGION'), region, `${id(w)} ${c.name}`);
      }
    }
  });

  it('runs commands that make build produces when rendered', () => {
    for (const [, w] of workloads()) {
      for (const c of containersOf(w)) {
        const main = (c.args ?? [])[0] ?? '';
        assert.match(main, /^dist\/.+\/main\.js$/, `${id(w)} ${c.name}`);
        assert.ok(existsSync(path.join(REPO_ROOT, main)), `${id(w)} ${c.name}: ${main} is not built`);
        assert.ok(!main.startsWith('dist/test/'), `${id(w)} ${c.name}: runs a test file`);
      }
    }
  });

  it('runs every component in production mode with mutual TLS from a Secret of its own when rendered', () => {
    const secrets = new Map<string, string>();
    for (const [, w] of workloads()) {
      const pod = podSpecOf(w)!;
      for (const c of containersOf(w)) {
        const where = `${id(w)} container ${c.name}`;
        const env = envOf(c);
        assert.equal(env.get('AUTHMESH_MODE'), 'production', `${where}: not in production mode`);
        const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === '/etc/authmesh/tls');
        assert.ok(mount, `${where}: no mesh certificate mounted`);
        for (const [name, file] of [['AUTHMESH_MESH_CA', 'ca.crt'], ['AUTHMESH_MESH_CERT', 'tls.crt'], ['AUTHMESH_MESH_KEY', 'tls.key']]) {
          assert.equal(env.get(name), `${mount.mountPath}/${file}`, `${where}: ${name}`);
        }
        const secret = pod.volumes?.find((v) => v.name === mount.name)?.secret;
        assert.equal(secret?.secretName, `${w.metadata.name}-mesh-tls`, `${where}: mesh certificate Secret`);
        assert.notEqual(secret?.optional, true, `${where}: the mesh certificate must not be optional`);
        const key = `${w.metadata.namespace}/${secret!.secretName}`;
        assert.equal(secrets.get(key), undefined, `${where}: shares ${key} with ${String(secrets.get(key))}`);
        secrets.set(key, id(w));
      }
    }
  });

  it('serves the gateway\'s public gRPC port over TLS with the public certificate when rendered', () => {
    const gateways = workloads().filter(([, w]) => w.metadata.name === 'gateway');
    assert.equal(gateways.length, 2);
    for (const [, w] of gateways) {
      for (const c of containersOf(w)) {
        const env = envOf(c);
        assert.equal(env.get('AUTHMESH_GRPC_TLS'), 'true', `${id(w)}: plaintext public gRPC port`);
        const parsed = serviceContract(c).parse((c.args ?? []).slice(1), Object.fromEntries(env)) as { grpcTls?: { certFile: string } };
        assert.equal(parsed.grpcTls?.certFile, '/etc/authmesh/http-tls/tls.crt', id(w));
      }
    }
  });

  it('gives every component a cert-manager Certificate with the SPIFFE name the mesh authorizes when rendered', () => {
    type Certificate = { kind: string; metadata: { name: string; namespace?: string }; spec: { secretName: string; uris?: string[]; dnsNames?: string[]; usages?: string[]; issuerRef: { name: string } } };
    const certificates = (readYamlDocuments(path.join(K8S, 'cert-manager', 'certificates.yaml')) as Certificate[]).filter((d) => d.kind === 'Certificate');
    const members = new Map<string, string>();
    for (const [, w] of workloads()) {
      const namespace = w.metadata.namespace!;
      const region = envOf(containersOf(w)[0]!).get('AUTHMESH_REGION');
      const member = { global: 'global', backup: 'backup', regional: `regional-${String(region)}`, gateway: `gateway-${String(region)}` }[w.metadata.name];
      assert.ok(member, `${id(w)}: no mesh member name known`);
      const cert = certificates.find((c) => c.metadata.namespace === namespace && c.spec.secretName === `${w.metadata.name}-mesh-tls`);
      assert.ok(cert, `${id(w)}: no Certificate writes ${namespace}/${w.metadata.name}-mesh-tls`);
      assert.deepEqual(cert.spec.uris, [`spiffe://authmesh.local/${member}`], `${id(w)}: URI SAN`);
      assert.equal(meshIdentityOf(`URI:${cert.spec.uris![0]!}`), member, `${id(w)}: the code does not read ${member} from the certificate`);
      assert.deepEqual([...(cert.spec.usages ?? [])].sort(), ['client auth', 'server auth'], `${id(w)}: usages`);
      assert.equal(cert.spec.issuerRef.name, 'authmesh-mesh-ca', `${id(w)}: issuer`);
      assert.ok(cert.spec.dnsNames?.includes(`${w.metadata.name}.${namespace}.svc.cluster.local`), `${id(w)}: the Service name is not in the certificate`);
      members.set(member, id(w));
    }
    // What global authorizes by name: regional and backup have directory rights, the gateway none, nobody is admin.
    for (const [member, where] of members) {
      assert.equal(directoryRole(member) !== undefined, member.startsWith('regional-') || member === 'backup', `${where}: ${member} directory access`);
      assert.equal(ADMIN_MEMBERS(member), false, `${where}: ${member} must not hold the admin right`);
    }
    const uris = certificates.flatMap((c) => c.spec.uris ?? []);
    assert.equal(new Set(uris).size, uris.length, 'no two Certificates share a mesh name');
  });
});
