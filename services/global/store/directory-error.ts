/** Why an admin or directory request was refused; each maps to one gRPC status. */
export type DirectoryErrorCode = 'invalid_argument' | 'not_found' | 'already_exists' | 'failed_precondition' | 'out_of_range' | 'unavailable';

/**
 * A refusal that is an answer to the caller, with a message safe to show: it names identifiers
 * but never carries credential material.
 */
export class DirectoryError extends Error {
  override readonly name = 'DirectoryError';
  constructor(
    readonly code: DirectoryErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const invalidArgument = (message: string): DirectoryError => new DirectoryError('invalid_argument', message);
export const notFound = (message: string): DirectoryError => new DirectoryError('not_found', message);
export const alreadyExists = (message: string): DirectoryError => new DirectoryError('already_exists', message);
/** The store could not be reached or the outcome of a write is unknown: retry, maybe elsewhere. */
export const storeUnavailable = (message: string): DirectoryError => new DirectoryError('unavailable', message);
/** The target is in a state that forbids the change (e.g. a resource still granted). */
export const failedPrecondition = (message: string): DirectoryError => new DirectoryError('failed_precondition', message);
export const outOfRange = (message: string): DirectoryError => new DirectoryError('out_of_range', message);

export const isDirectoryError = (value: unknown): value is DirectoryError => value instanceof DirectoryError;
