import { makeGenericClientConstructor, type Client, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

export interface HealthCheckResponse {
  status: string;
}

interface HealthClientShape extends Client {
  check(req: { service: string }, opts: { deadline: number }, cb: (err: ServiceError | null, res?: HealthCheckResponse) => void): void;
}

/** A grpc.health.v1 client. */
export const HealthClient = makeGenericClientConstructor(healthService, 'Health') as unknown as new (
  ...args: ConstructorParameters<ReturnType<typeof makeGenericClientConstructor>>
) => HealthClientShape;
