import type { FieldError } from '../validate-message.ts';

/**
 * Why an operation was refused. The API turns these into its error codes; the CLI into a line
 * and an exit code.
 * - not_found: no such thing in the caller's scope (another unit's things do not exist for it).
 * - invalid:   the request is wrong; `details` names each field.
 * - conflict:  the thing is in a state that does not allow this (a finished recovery).
 * - exists:    the name is taken (a unit).
 * - forbidden: only an admin key may do this (units, provider probes).
 */
export class OperationsError extends Error {
  constructor(
    readonly kind: 'not_found' | 'invalid' | 'conflict' | 'exists' | 'forbidden',
    message: string,
    readonly details: FieldError[] = [],
  ) {
    super(message);
  }
}
