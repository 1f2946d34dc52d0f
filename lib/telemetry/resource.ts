import { defaultResource, detectResources, envDetector, hostDetector, osDetector, processDetector, resourceFromAttributes, serviceInstanceIdDetector, type ResourceDetector, type Resource } from '@opentelemetry/resources';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The process detector without `process.command_args`: a flag's value (a store URL with its user,
 * say) is no business of a trace collector. The executable, pid, runtime and owner stay.
 */
export const processDetectorWithoutArgs: ResourceDetector = {
  detect(config) {
    const { attributes = {} } = processDetector.detect(config);
    const { 'process.command_args': _args, ...rest } = attributes;
    return { attributes: rest };
  },
};

const DETECTORS: Readonly<Record<string, ResourceDetector>> = {
  env: envDetector,
  host: hostDetector,
  os: osDetector,
  process: processDetectorWithoutArgs,
  serviceinstance: serviceInstanceIdDetector,
};

/**
 * The resource detectors of a process: env (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME), host
 * and process, or those OTEL_NODE_RESOURCE_DETECTORS names (`env,host,os,process,serviceinstance`,
 * `all` or `none`; unknown names are skipped).
 */
export function resourceDetectors(env: Env): ResourceDetector[] {
  const list = (env.OTEL_NODE_RESOURCE_DETECTORS ?? '').split(',').map((n) => n.trim().toLowerCase()).filter((n) => n !== '');
  if (list.length === 0) return [envDetector, hostDetector, processDetectorWithoutArgs];
  if (list.includes('none')) return [];
  if (list.includes('all')) return Object.values(DETECTORS);
  return list.flatMap((n) => (DETECTORS[n] === undefined ? [] : [DETECTORS[n]]));
}

/**
 * The resource of every span and metric: the SDK's own attributes and the service's
 * `service.name`, with what the detectors find merged over them, so OTEL_SERVICE_NAME, or a
 * `service.name` in OTEL_RESOURCE_ATTRIBUTES, replaces the service's name. Attributes found
 * asynchronously (the host id) settle shortly after; the exporters wait for them.
 */
export function processResource(serviceName: string, env: Env): Resource {
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': serviceName }))
    .merge(detectResources({ detectors: resourceDetectors(env) }));
  void resource.waitForAsyncAttributes?.();
  return resource;
}
