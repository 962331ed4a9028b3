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
    /**
     * The field whose value must be one of a list the caller can look at (a unit's name): each
     * surface points to it in its own terms, the API to `GET /v1/units`, the CLI to
     * `tegami units list`.
     */
    readonly seeList: { field: string; list: 'units' } | null = null,
  ) {
    super(message);
  }
}

/** The error's details, the field of its `seeList` ending with where to look, as `lists` say. */
export function withListHint(error: OperationsError, lists: Record<'units', string>): FieldError[] {
  const see = error.seeList;
  if (!see) return error.details;
  return error.details.map((d) =>
    d.field === see.field ? { ...d, message: `${d.message} (see ${lists[see.list]})` } : d,
  );
}
