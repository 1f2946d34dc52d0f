/**
 * What a container in the manifests must satisfy, read from the compiled services themselves:
 * the option specs exported by the `config.js` next to the `main.js` a container runs, and the
 * function that parses them.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { envName, type OptionSpec } from '../../lib/config/index.js';
import type { K8sObject } from './render-kustomization.js';

/** The repository root (this file runs from dist/test/deploy/). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The parts of a container spec the tests read. */
export interface Container {
  name: string;
  image?: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}

export interface Probe {
  grpc?: { port: number };
  exec?: { command: string[] };
  tcpSocket?: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Array<{ name: string; secret?: { secretName: string; optional?: boolean } }>;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  topologySpreadConstraints?: Array<{ topologyKey: string; labelSelector?: { matchLabels?: Record<string, string> } }>;
}

export function podSpecOf(o: K8sObject): PodSpec | undefined {
  const spec = o.spec as { template?: { spec?: PodSpec } } | undefined;
  return ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind) ? spec?.template?.spec : undefined;
}

export const containersOf = (o: K8sObject): Container[] => podSpecOf(o)?.containers ?? [];

export interface ServiceOption {
  flag: string;
  env: string;
  required: boolean;
}

export interface ServiceContract {
  /** e.g. `dist/services/global/main.js` */
  main: string;
  options: ServiceOption[];
  /** The service's own config parser; throws ConfigError on a bad configuration. */
  parse(argv: readonly string[], env: Record<string, string | undefined>): unknown;
}

const isOptionSpecs = (v: unknown): v is Record<string, OptionSpec> =>
  typeof v === 'object' && v !== null && Object.values(v).length > 0 &&
  Object.values(v).every((s) => typeof s === 'object' && s !== null && 'type' in s && 'describe' in s);

/** The option specs and parser of the service a container runs (its first arg is the main file). */
export function serviceContract(container: Container): ServiceContract {
  const main = (container.args ?? [])[0] ?? '';
  const configFile = path.join(REPO_ROOT, path.dirname(main), 'config.js');
  if (!existsSync(configFile)) throw new Error(`container ${container.name}: no ${configFile} next to ${main}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(configFile) as Record<string, unknown>;
  const specs = Object.entries(mod).filter(([name, v]) => name.endsWith('_OPTIONS') && isOptionSpecs(v)).map(([, v]) => v as Record<string, OptionSpec>);
  const parsers = Object.entries(mod).filter(([name, v]) => /^parse\w*Config$/.test(name) && typeof v === 'function');
  if (specs.length !== 1 || parsers.length !== 1) throw new Error(`${configFile}: expected one *_OPTIONS and one parse*Config export`);
  const options = Object.entries(specs[0]!).map(([flag, s]) => ({ flag, env: s.env ?? envName(flag), required: s.default === undefined }));
  return { main, options, parse: parsers[0]![1] as ServiceContract['parse'] };
}
