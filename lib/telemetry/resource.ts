import { defaultResource, envDetector, hostDetector, processDetector, resourceFromAttributes, type ResourceDetector, type Resource } from '@opentelemetry/resources';

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

/**
 * The resource detectors of a process: env (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME), host
 * and process. Undefined when OTEL_NODE_RESOURCE_DETECTORS is set: the SDK then reads that list.
 */
export function resourceDetectors(env: Env): ResourceDetector[] | undefined {
  if (env.OTEL_NODE_RESOURCE_DETECTORS !== undefined && env.OTEL_NODE_RESOURCE_DETECTORS.trim() !== '') return undefined;
  return [envDetector, hostDetector, processDetectorWithoutArgs];
}

/**
 * The resource the detected attributes are merged onto: the SDK's own attributes and the
 * service's `service.name`, which OTEL_SERVICE_NAME, or a `service.name` in
 * OTEL_RESOURCE_ATTRIBUTES, replaces when set (the env detector runs after).
 */
export function baseResource(serviceName: string): Resource {
  return defaultResource().merge(resourceFromAttributes({ 'service.name': serviceName }));
}
