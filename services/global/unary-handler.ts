import { status, type sendUnaryData, type ServerUnaryCall, type StatusObject } from '@grpc/grpc-js';
import { isOAuthError } from '../../lib/errors/index.js';
import { toStatus } from '../../lib/grpc/index.js';
import type { Logger } from '../../lib/log/index.js';
import { isDirectoryError, type DirectoryErrorCode } from './store/directory-error.js';

const STATUS_BY_CODE: Readonly<Record<DirectoryErrorCode, status>> = Object.freeze({
  invalid_argument: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  failed_precondition: status.FAILED_PRECONDITION,
  out_of_range: status.OUT_OF_RANGE,
  unavailable: status.UNAVAILABLE,
});

/** Maps a refusal to its status; anything unexpected is logged and answered INTERNAL. */
export function directoryStatus(err: unknown, log: Logger, method: string): Partial<StatusObject> {
  if (isDirectoryError(err)) return { code: STATUS_BY_CODE[err.code], details: err.message };
  if (isOAuthError(err) && err.code !== 'server_error') return toStatus(err);
  log.error({ err, method }, 'request failed');
  return { code: status.INTERNAL, details: 'internal error' };
}

/** Adapts an async request → response function to a grpc-js unary handler. */
export function unary<Req, Res>(
  log: Logger,
  method: string,
  fn: (request: Req, call: ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request, call))
      .then(
        (response) => callback(null, response),
        (err: unknown) => callback(directoryStatus(err, log, method)),
      );
  };
}
