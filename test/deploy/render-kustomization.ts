/**
 * Renders a kustomization the way `kubectl kustomize` does, for the subset deploy/k8s uses:
 * `resources` (files and folders), `namespace`, `labels` (pairs, includeSelectors,
 * includeTemplates), `patches` (strategic merge by kind and name, or JSON 6902 with a target) and
 * `images`. Anything else in a kustomization is refused, so a manifest never silently renders
 * differently here than in a cluster.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<string, unknown>;

type Json = unknown;
type JsonObject = Record<string, Json>;

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'labels', 'patches', 'images']);

/** Kinds that live outside namespaces; `namespace:` leaves them alone. */
const CLUSTER_SCOPED = new Set(['Namespace', 'PersistentVolume', 'StorageClass', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PriorityClass']);

/** Strategic-merge keys of the lists these manifests patch (from the Kubernetes API's patchMergeKey). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  topologySpreadConstraints: 'topologyKey',
  imagePullSecrets: 'name',
};

const isObject = (v: Json): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses every YAML document in a file; empty documents are skipped. */
export function readYamlDocuments(file: string): Json[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: Json[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    const value: Json = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/** Renders the kustomization in `dir` into its list of objects. */
export function renderKustomization(dir: string): K8sObject[] {
  const file = path.join(dir, 'kustomization.yaml');
  const [k] = readYamlDocuments(file);
  if (!isObject(k)) throw new Error(`${file}: not a kustomization`);
  for (const key of Object.keys(k)) if (!SUPPORTED.has(key)) throw new Error(`${file}: "${key}" is not supported by this renderer`);

  let objects: K8sObject[] = [];
  for (const entry of (k.resources as string[] | undefined) ?? []) {
    const target = path.resolve(dir, entry);
    if (statSync(target).isDirectory()) objects.push(...renderKustomization(target));
    else objects.push(...readYamlDocuments(target).map((o) => asObject(o, target)));
  }
  for (const patch of (k.patches as JsonObject[] | undefined) ?? []) objects = applyPatch(objects, patch, dir);
  if (typeof k.namespace === 'string') setNamespace(objects, k.namespace);
  for (const l of (k.labels as JsonObject[] | undefined) ?? []) addLabels(objects, l);
  for (const image of (k.images as JsonObject[] | undefined) ?? []) setImage(objects, image);

  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(id)) throw new Error(`${dir}: ${id} is defined twice`);
    seen.add(id);
  }
  return objects;
}

function asObject(value: Json, file: string): K8sObject {
  if (!isObject(value) || typeof value.kind !== 'string' || typeof value.apiVersion !== 'string' || !isObject(value.metadata) || typeof value.metadata.name !== 'string') {
    throw new Error(`${file}: every document needs apiVersion, kind and metadata.name`);
  }
  return value as K8sObject;
}

function applyPatch(objects: K8sObject[], patch: JsonObject, dir: string): K8sObject[] {
  const docs = typeof patch.path === 'string' ? readYamlDocuments(path.resolve(dir, patch.path)) : [patch.patch];
  const target = patch.target as JsonObject | undefined;
  for (const doc of docs) {
    if (Array.isArray(doc)) {
      if (target === undefined) throw new Error(`${dir}: a JSON 6902 patch needs a target`);
      const matches = objects.filter((o) => (target.kind === undefined || o.kind === target.kind) && (target.name === undefined || o.metadata.name === target.name));
      if (matches.length === 0) throw new Error(`${dir}: patch target ${JSON.stringify(target)} matches nothing`);
      for (const o of matches) applyJson6902(o, doc as JsonObject[]);
      continue;
    }
    const p = asObject(doc, dir);
    const i = objects.findIndex((o) => o.kind === p.kind && o.metadata.name === p.metadata.name);
    if (i === -1) throw new Error(`${dir}: patch for ${p.kind}/${p.metadata.name} matches nothing`);
    objects[i] = strategicMerge(objects[i], p, '') as K8sObject;
  }
  return objects;
}

/** Strategic merge: maps merge, keyed lists merge by their key, other lists and scalars replace. */
export function strategicMerge(base: Json, patch: Json, field: string): Json {
  if (isObject(base) && isObject(patch)) {
    const out: JsonObject = { ...base };
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete out[key];
      else out[key] = key in base ? strategicMerge(base[key], value, key) : value;
    }
    return out;
  }
  const key = MERGE_KEYS[field];
  if (Array.isArray(base) && Array.isArray(patch) && key !== undefined) {
    const out = [...base];
    for (const item of patch) {
      const i = out.findIndex((b) => isObject(b) && isObject(item) && b[key] === item[key]);
      if (i === -1) out.push(item);
      else out[i] = strategicMerge(out[i], item, '');
    }
    return out;
  }
  return patch;
}

function applyJson6902(object: JsonObject, ops: JsonObject[]): void {
  for (const op of ops) {
    const parts = String(op.path).split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop()!;
    let parent: Json = object;
    for (const part of parts) parent = Array.isArray(parent) ? parent[Number(part)] : (parent as JsonObject)[part];
    if (parent === undefined) throw new Error(`JSON patch path ${String(op.path)} does not exist`);
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (op.op === 'add') parent.splice(i, 0, op.value);
      else if (op.op === 'replace') parent[i] = op.value;
      else if (op.op === 'remove') parent.splice(i, 1);
      else throw new Error(`unsupported JSON patch op ${String(op.op)}`);
    } else {
      const obj = parent as JsonObject;
      if (op.op === 'add' || op.op === 'replace') obj[last] = op.value;
      else if (op.op === 'remove') delete obj[last];
      else throw new Error(`unsupported JSON patch op ${String(op.op)}`);
    }
  }
}

function setNamespace(objects: K8sObject[], namespace: string): void {
  for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = namespace;
}

/** Pod templates of workloads, where `includeTemplates` labels go. */
function podTemplate(o: K8sObject): JsonObject | undefined {
  const spec = o.spec as JsonObject | undefined;
  return isObject(spec?.template) ? spec.template : undefined;
}

function addLabels(objects: K8sObject[], l: JsonObject): void {
  const pairs = l.pairs as Record<string, string>;
  for (const o of objects) {
    o.metadata.labels = { ...o.metadata.labels, ...pairs };
    const template = podTemplate(o);
    if (template !== undefined && (l.includeTemplates === true || l.includeSelectors === true)) {
      const meta = (template.metadata ??= {}) as JsonObject;
      meta.labels = { ...(meta.labels as JsonObject | undefined), ...pairs };
    }
    if (l.includeSelectors === true) {
      const spec = o.spec as JsonObject | undefined;
      if (o.kind === 'Service' && spec !== undefined) spec.selector = { ...(spec.selector as JsonObject | undefined), ...pairs };
      const selector = spec?.selector as JsonObject | undefined;
      if (o.kind !== 'Service' && isObject(selector?.matchLabels)) selector.matchLabels = { ...selector.matchLabels, ...pairs };
    }
  }
}

function setImage(objects: K8sObject[], image: JsonObject): void {
  for (const o of objects) {
    const spec = podTemplate(o)?.spec as JsonObject | undefined;
    for (const c of [...((spec?.containers as JsonObject[] | undefined) ?? []), ...((spec?.initContainers as JsonObject[] | undefined) ?? [])]) {
      const current = String(c.image);
      const name = current.replace(/[:@].*$/, '');
      if (name !== image.name) continue;
      const tag = image.digest !== undefined ? `@${String(image.digest)}` : image.newTag !== undefined ? `:${String(image.newTag)}` : current.slice(name.length);
      c.image = `${String(image.newName ?? name)}${tag}`;
    }
  }
}
