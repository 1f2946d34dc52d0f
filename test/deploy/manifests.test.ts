import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { renderKustomization, type K8sObject } from './render-kustomization.js';
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

  it('gives every container liveness and readiness probes on its gRPC port, and cpu and memory limits, when rendered', () => {
    for (const [, w] of workloads()) {
      for (const c of containersOf(w)) {
        const where = `${id(w)} container ${c.name}`;
        assert.ok(c.livenessProbe !== undefined, `${where}: no liveness probe`);
        assert.ok(c.readinessProbe?.grpc !== undefined, `${where}: readiness is not a grpc.health.v1 probe`);
        assert.ok((c.ports ?? []).some((p) => p.containerPort === c.readinessProbe!.grpc!.port), `${where}: probe port is not a container port`);
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
});
