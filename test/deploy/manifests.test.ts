import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_MEMBERS } from '../../services/global/global-server.js';
import { directoryRole } from '../../services/global/directory-access.js';
import { meshIdentityOf } from '../../lib/tls/mesh-certs.js';
import { telemetrySettings } from '../../lib/telemetry/settings.js';
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
/** The pod name a Deployment's controller gives a pod: <deployment>-<10-char template hash>-<5 chars>. */
const podNameOf = (w: K8sObject): string => (w.kind === 'StatefulSet' ? `${w.metadata.name}-0` : `${w.metadata.name}-5d7c9b8f6d-x2k7q`);
/** The node a pod of the tests runs on (a spec.nodeName field reference). */
const NODE_NAME = 'node-a1';
/**
 * A container's env as the kubelet sets it: the pod's name, namespace and node for metadata.name,
 * metadata.namespace and spec.nodeName field references, and `$(NAME)` replaced by an earlier
 * variable's value.
 */
const envOf = (c: Container, w?: K8sObject): Map<string, string> => {
  const env = new Map<string, string>();
  for (const e of c.env ?? []) {
    const field = (e.valueFrom as { fieldRef?: { fieldPath?: string } } | undefined)?.fieldRef?.fieldPath;
    const fromField = w === undefined ? undefined : { 'metadata.name': podNameOf(w), 'metadata.namespace': w.metadata.namespace, 'spec.nodeName': NODE_NAME }[field ?? ''];
    const value = e.value?.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name: string) => env.get(name) ?? ref);
    env.set(e.name, value ?? fromField ?? '<from a reference>');
  }
  return env;
};
/** The namespace an overlay renders into: global-sqlite is the other install of global. */
const namespaceOf = (overlay: string): string => `authmesh-${overlay === 'global-sqlite' ? 'global' : overlay}`;

/** The Kubernetes model class for an apiVersion and kind, with the OpenAPI schema's validator. */
async function modelFor(apiVersion: string, kind: string): Promise<new (data: object) => { validate(): void }> {
  // CloudNativePG's resources are checked against the operator's CRD schema (@kubernetes-models/cloudnative-pg).
  // The Prometheus Operator's PodMonitor is checked against its CRD schema (@kubernetes-models/prometheus-operator).
  const from = apiVersion.startsWith('postgresql.cnpg.io/')
    ? `@kubernetes-models/cloudnative-pg/${apiVersion}/${kind}`
    : apiVersion.startsWith('monitoring.coreos.com/')
      ? `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`
      : `kubernetes-models/${apiVersion}/${kind}`;
  const mod = (await import(from)) as Record<string, new (data: object) => { validate(): void }>;
  const model = mod[kind];
  if (model === undefined) throw new Error(`no model for ${apiVersion} ${kind}`);
  return model;
}

/**
 * Fields of a CloudNativePG resource that its CRD does not declare. The CRD schema allows unknown
 * fields (the API server prunes them), so a misspelt field passes validate() and is silently
 * dropped; this walks the object along the declared properties of the schema's generated types
 * in @kubernetes-models/cloudnative-pg, down to the Kubernetes core types it embeds.
 */
function undeclaredCnpgFields(value: unknown, typeFile: string, at: string): string[] {
  const text = readFileSync(typeFile, 'utf8');
  const imports = new Map([...text.matchAll(/^import \{ (\w+) \} from "(\.[^"]+)\.js";$/gm)].map((m) => [m[1]!, path.resolve(path.dirname(typeFile), `${m[2]!}.d.ts`)]));
  const body = /export interface \w+ \{\n([\s\S]*?)\n\}/.exec(text)?.[1] ?? '';
  const fields = new Map([...body.matchAll(/^ {4}"([^"]+)"\??: (.+?);?$/gm)].map((m) => [m[1]!, /(IComGithub\w+)/.exec(m[2]!)?.[1]]));
  if (fields.size === 0) throw new Error(`${typeFile}: no declared properties found`);
  if (typeof value !== 'object' || value === null) return [];
  const problems: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    if (!fields.has(key)) {
      problems.push(`${at}.${key}`);
      continue;
    }
    const file = imports.get(fields.get(key) ?? '');
    if (file === undefined || !existsSync(file) || typeof child !== 'object' || child === null) continue;
    const items: unknown[] = Array.isArray(child) ? child : [child];
    for (const [i, item] of items.entries()) {
      if (typeof item !== 'object' || item === null) continue;
      problems.push(...undeclaredCnpgFields(item, file, Array.isArray(child) ? `${at}.${key}[${i}]` : `${at}.${key}`));
    }
  }
  return problems;
}

describe('deploy/k8s', () => {
  it('renders the global, backup, eastus and westus overlays when built with kustomize semantics', () => {
    assert.deepEqual(OVERLAYS, ['backup', 'eastus', 'global', 'global-sqlite', 'westus']);
    for (const [where, objects] of rendered) assert.ok(objects.length > 0, `${where} renders nothing`);
  });

  it('passes the Kubernetes OpenAPI schema, or the CloudNativePG CRD schema, for every object when rendered', async () => {
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

  it('uses only fields the CloudNativePG CRD declares in every CloudNativePG resource when rendered', () => {
    const cnpg = everyObject().filter(([, o]) => o.apiVersion.startsWith('postgresql.cnpg.io/'));
    assert.ok(cnpg.length > 0, 'no CloudNativePG resource rendered');
    const problems: string[] = [];
    for (const [where, o] of cnpg) {
      const typeFile = path.join(REPO_ROOT, 'node_modules', '@kubernetes-models', 'cloudnative-pg', o.apiVersion, `${o.kind}.d.ts`);
      problems.push(...undeclaredCnpgFields(o.spec, path.join(path.dirname(typeFile), `${o.kind}Spec.d.ts`), `${where} ${id(o)} spec`));
    }
    assert.deepEqual(problems, [], 'fields the operator would drop');
  });

  it('puts global, backup and each region in its own namespace when rendered', () => {
    for (const name of OVERLAYS) {
      const objects = rendered.get(`overlays/${name}`)!;
      const namespaced = objects.filter((o) => o.kind !== 'Namespace');
      assert.ok(namespaced.every((o) => o.metadata.namespace === namespaceOf(name)), `overlay ${name} leaks out of ${namespaceOf(name)}`);
      assert.ok(objects.some((o) => o.kind === 'Namespace' && o.metadata.name === namespaceOf(name)), `overlay ${name} does not create its namespace`);
    }
  });

  it('runs global as a Deployment of at least two instances with a PDB, hostname anti-affinity and rolling updates when rendered', () => {
    const objects = rendered.get('overlays/global')!;
    assert.ok(!objects.some((o) => o.kind === 'StatefulSet'), 'overlays/global still has a StatefulSet');
    const global = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'global');
    assert.ok(global, 'overlays/global: global is not a Deployment');
    type DeploymentSpec = {
      replicas: number;
      strategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string } };
      template: { metadata: { labels: Record<string, string> }; spec: { affinity?: { podAntiAffinity?: AntiAffinity } } };
    };
    type Term = { topologyKey: string; labelSelector?: { matchLabels?: Record<string, string> } };
    type AntiAffinity = { requiredDuringSchedulingIgnoredDuringExecution?: Term[]; preferredDuringSchedulingIgnoredDuringExecution?: Array<{ podAffinityTerm: Term }> };
    const spec = global.spec as DeploymentSpec;
    assert.ok(spec.replicas >= 2, `global runs ${spec.replicas} replica(s)`);
    assert.equal(spec.strategy?.type ?? 'RollingUpdate', 'RollingUpdate');
    assert.equal(spec.strategy?.rollingUpdate?.maxUnavailable, 0, 'a rollout may take an instance down before its replacement is ready');
    const labels = spec.template.metadata.labels;
    const selects = (s: Record<string, string> | undefined): boolean => s !== undefined && Object.entries(s).every(([k, v]) => labels[k] === v);
    const anti = spec.template.spec.affinity?.podAntiAffinity;
    const terms = [...(anti?.requiredDuringSchedulingIgnoredDuringExecution ?? []), ...(anti?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p) => p.podAffinityTerm)];
    assert.ok(terms.some((t) => t.topologyKey === 'kubernetes.io/hostname' && selects(t.labelSelector?.matchLabels)), 'global has no pod anti-affinity by hostname');
    const pdb = objects.find((o) => o.kind === 'PodDisruptionBudget' && selects((o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels));
    assert.ok(pdb, 'global has no PodDisruptionBudget');
    const budget = pdb.spec as { minAvailable?: number; maxUnavailable?: number };
    const keptUp = budget.minAvailable ?? spec.replicas - (budget.maxUnavailable ?? spec.replicas);
    assert.ok(keptUp >= 2 && keptUp < spec.replicas, `the PDB keeps ${keptUp} of ${spec.replicas} instances up: a drain must leave two and still be able to evict one`);
  });

  it('puts global on a CloudNativePG Cluster with a synchronous standby, its -rw Service and the app Secret\'s password as a file when rendered', () => {
    const objects = rendered.get('overlays/global')!;
    type ClusterSpec = {
      instances: number;
      minSyncReplicas?: number;
      postgresql?: { synchronous?: { method: string; number: number; dataDurability?: string } };
      bootstrap?: { initdb?: { database?: string; owner?: string } };
    };
    const clusters = objects.filter((o) => o.apiVersion === 'postgresql.cnpg.io/v1' && o.kind === 'Cluster');
    assert.equal(clusters.length, 1, 'overlays/global has no CloudNativePG Cluster');
    const cluster = clusters[0]!;
    const spec = cluster.spec as ClusterSpec;
    assert.ok(spec.instances >= 2, `the Cluster has ${spec.instances} instance(s): no standby`);
    const sync = spec.postgresql?.synchronous;
    const standbys = sync !== undefined ? sync.number : (spec.minSyncReplicas ?? 0);
    assert.ok(standbys >= 1 && standbys < spec.instances, `the Cluster waits for ${standbys} synchronous standby(s) of ${spec.instances - 1}`);
    // "preferred" would let commits go on without a standby, so an acknowledged write could be lost with the primary.
    if (sync !== undefined) assert.equal(sync.dataDurability ?? 'required', 'required', 'synchronous commit is not enforced');

    const global = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'global');
    assert.ok(global, 'overlays/global: global is not a Deployment');
    const c = containersOf(global).find((x) => x.name === 'global')!;
    const env = envOf(c, global);
    const config = serviceContract(c).parse((c.args ?? []).slice(1), Object.fromEntries(env)) as { store: string; instance: string; 'store-password-file': string };
    const url = new URL(config.store);
    assert.equal(url.protocol, 'postgres:', 'global does not run on PostgreSQL');
    assert.equal(url.hostname, `${cluster.metadata.name}-rw`, 'global does not dial the Cluster\'s read-write Service');
    assert.equal(url.username, spec.bootstrap?.initdb?.owner ?? 'app', 'store user is not the Cluster\'s application user');
    assert.equal(url.pathname, `/${spec.bootstrap?.initdb?.database ?? 'app'}`, 'store database is not the Cluster\'s application database');
    assert.equal(config.instance, podNameOf(global), 'the instance is not named after its pod');
    assert.ok(!(c.env ?? []).some((e) => e.name === 'AUTHMESH_STORE_PASSWORD'), 'the password is in the environment');
    const file = config['store-password-file'];
    const mount = (c.volumeMounts ?? []).find((m) => file.startsWith(`${m.mountPath}/`));
    const volume = (podSpecOf(global)!.volumes ?? []).find((v) => v.name === mount?.name) as { secret?: { secretName: string; items?: Array<{ key: string; path: string }> } } | undefined;
    assert.equal(volume?.secret?.secretName, `${cluster.metadata.name}-app`, 'the password file is not from the Cluster\'s app Secret');
    const item = volume.secret.items?.find((i) => `${mount!.mountPath}/${i.path}` === file);
    assert.equal(item?.key, 'password', 'the password file is not the Secret\'s password key');
    // Every instance must hold the same tokens and keys, so the seed Secret is required, not optional.
    const seed = (podSpecOf(global)!.volumes ?? []).find((v) => v.secret?.secretName === 'global-seed');
    assert.ok(seed && seed.secret!.optional !== true, 'global-seed is optional: instances would make keys of their own');
  });

  it('keeps global on SQLite as one StatefulSet replica with a claim in the global-sqlite overlay when rendered', () => {
    const objects = rendered.get('overlays/global-sqlite')!;
    const global = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'global');
    assert.ok(global, 'overlays/global-sqlite has no global StatefulSet');
    const spec = global.spec as { replicas: number; volumeClaimTemplates: unknown[] };
    assert.equal(spec.replicas, 1);
    assert.equal(spec.volumeClaimTemplates.length, 1);
    assert.ok(!objects.some((o) => o.kind === 'Cluster' || o.kind === 'Deployment'), 'the single-node install carries the replicated tier');
    const env = envOf(containersOf(global)[0]!, global);
    assert.ok(!(env.get('AUTHMESH_STORE') ?? '').startsWith('postgres'), 'the single-node install points at PostgreSQL');
  });

  it('scales regional and gateway with an HPA when rendered', () => {
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
        const env = envOf(c, w);
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
        const env = Object.fromEntries(envOf(c, w));
        assert.doesNotThrow(() => contract.parse((c.args ?? []).slice(1), env), `${id(w)} ${c.name}`);
      }
    }
  });

  it('serves on 0.0.0.0 at the container port and mounts every configured file path when rendered', () => {
    for (const [, w] of workloads()) {
      const pod = podSpecOf(w)!;
      for (const c of containersOf(w)) {
        const env = envOf(c, w);
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

  it('declares the metrics port each process serves, named metrics, and a PodMonitor that scrapes it from its pods when rendered', () => {
    for (const [where, w] of workloads()) {
      const labels = (w.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
      for (const c of containersOf(w)) {
        const env = envOf(c, w);
        const settings = telemetrySettings(['node', `/app/${c.args![0]!}`, ...c.args!.slice(1)], Object.fromEntries(env));
        const port = (c.ports ?? []).find((p) => p.name === 'metrics');
        assert.ok(port !== undefined, `${id(w)} ${c.name}: no container port named metrics`);
        assert.equal(settings.metricsListen, `0.0.0.0:${port.containerPort}`, `${id(w)} ${c.name}: the process serves metrics at ${String(settings.metricsListen)}`);
      }
      const monitors = rendered
        .get(where)!
        .filter((o) => o.kind === 'PodMonitor' && o.apiVersion === 'monitoring.coreos.com/v1' && o.metadata.namespace === w.metadata.namespace)
        .map((o) => o.spec as { selector: { matchLabels?: Record<string, string> }; podMetricsEndpoints: Array<{ port?: string; path?: string }> })
        .filter((s) => Object.entries(s.selector.matchLabels ?? {}).length > 0 && Object.entries(s.selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v));
      assert.ok(
        monitors.some((s) => s.podMetricsEndpoints.some((e) => e.port === 'metrics' && (e.path ?? '/metrics') === '/metrics')),
        `${id(w)}: no PodMonitor scrapes its metrics port`,
      );
    }
  });

  it('names each region in its regional and gateway when rendered', () => {
    for (const region of ['eastus', 'westus']) {
      for (const w of rendered.get(`overlays/${region}`)!.filter((o) => podSpecOf(o) !== undefined)) {
        for (const c of containersOf(w)) assert.equal(envOf(c, w).get('AUTHMESH_REGION'), region, `${id(w)} ${c.name}`);
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
    // overlays/global and overlays/global-sqlite are two installs of one component, never applied together.
    for (const [overlay, w] of workloads()) {
      const pod = podSpecOf(w)!;
      for (const c of containersOf(w)) {
        const where = `${id(w)} container ${c.name}`;
        const env = envOf(c, w);
        assert.equal(env.get('AUTHMESH_MODE'), 'production', `${where}: not in production mode`);
        const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === '/etc/authmesh/tls');
        assert.ok(mount, `${where}: no mesh certificate mounted`);
        for (const [name, file] of [['AUTHMESH_MESH_CA', 'ca.crt'], ['AUTHMESH_MESH_CERT', 'tls.crt'], ['AUTHMESH_MESH_KEY', 'tls.key']]) {
          assert.equal(env.get(name), `${mount.mountPath}/${file}`, `${where}: ${name}`);
        }
        const secret = pod.volumes?.find((v) => v.name === mount.name)?.secret;
        assert.equal(secret?.secretName, `${w.metadata.name}-mesh-tls`, `${where}: mesh certificate Secret`);
        assert.notEqual(secret?.optional, true, `${where}: the mesh certificate must not be optional`);
        const key = `${overlay}: ${w.metadata.namespace}/${secret!.secretName}`;
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
        const env = envOf(c, w);
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
      const region = envOf(containersOf(w)[0]!, w).get('AUTHMESH_REGION');
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

  it('starts the telemetry bootstrap, sends spans to the otel-collector Service and names the pod on the resource when rendered', () => {
    for (const [, w] of workloads()) {
      for (const c of containersOf(w)) {
        const command = (c as Container & { command?: string[] }).command ?? [];
        const at = command.indexOf('--require');
        assert.equal(command[0], 'node', `${id(w)} ${c.name}: command`);
        const bootstrap = command[at + 1] ?? '';
        assert.ok(at > 0 && bootstrap.startsWith('/app/dist/') && existsSync(path.join(REPO_ROOT, bootstrap.slice('/app/'.length))), `${id(w)} ${c.name}: no --require of a built telemetry bootstrap in ${JSON.stringify(command)}`);
        assert.equal(path.basename(bootstrap), 'register.js', `${id(w)} ${c.name}: ${bootstrap}`);
        const env = envOf(c, w);
        assert.match(env.get('OTEL_EXPORTER_OTLP_ENDPOINT') ?? '', /^http:\/\/otel-collector\.[a-z0-9-]+\.svc\.cluster\.local:4318$/, `${id(w)} ${c.name}: OTEL_EXPORTER_OTLP_ENDPOINT`);
        const resource = new Map((env.get('OTEL_RESOURCE_ATTRIBUTES') ?? '').split(',').map((kv) => kv.split('=') as [string, string]));
        assert.equal(resource.get('k8s.pod.name'), podNameOf(w), `${id(w)} ${c.name}: k8s.pod.name`);
        assert.equal(resource.get('k8s.namespace.name'), w.metadata.namespace, `${id(w)} ${c.name}: k8s.namespace.name`);
        assert.equal(resource.get('k8s.node.name'), NODE_NAME, `${id(w)} ${c.name}: k8s.node.name`);
        assert.equal(resource.has('service.name'), false, `${id(w)} ${c.name}: service.name stays the service's own`);
        const settings = telemetrySettings(['node', `/app/${c.args![0]!}`, ...c.args!.slice(1)], Object.fromEntries(env));
        assert.equal(settings.tracing, true, `${id(w)} ${c.name}: tracing is off`);
        const region = env.get('AUTHMESH_REGION');
        assert.equal(settings.serviceName, `authmesh-${w.metadata.name === 'global' || w.metadata.name === 'backup' ? w.metadata.name : `${w.metadata.name}-${String(region)}`}`, `${id(w)} ${c.name}: service.name`);
      }
    }
  });
});
