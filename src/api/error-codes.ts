/**
 * Every error the API returns has this shape:
 *   {"error": {"code": "...", "message": "...", "details": [{"field": "...", "message": "..."}]}}
 * and one of these codes. docs/api-errors.md is checked against this list by a test.
 */
export const ERROR_CODES = {
  invalid_request: {
    status: 400,
    description: 'The request body, query or a header is invalid; `details` names each field.',
  },
  malformed_json: { status: 400, description: 'The body is not valid JSON.' },
  unauthorized: { status: 401, description: 'No API key, or an unknown or revoked one.' },
  invalid_signature: {
    status: 403,
    description:
      'A provider webhook request is unsigned, its signature does not match, or its timestamp is too old; nothing was stored.',
  },
  forbidden: {
    status: 403,
    description: 'Only an admin key may do this (units, provider probes).',
  },
  not_found: { status: 404, description: 'No such message, suppression or route.' },
  invalid_state: {
    status: 409,
    description:
      'The message is in a status that does not allow this action (e.g. cancelling a sent message).',
  },
  already_exists: { status: 409, description: 'The name is taken (a unit).' },
  idempotency_key_reused: {
    status: 409,
    description: 'This Idempotency-Key was already used with a different request body.',
  },
  payload_too_large: {
    status: 413,
    description: 'The body is larger than the limit (10 MiB for one message, 50 MiB for a batch).',
  },
  unsupported_media_type: { status: 415, description: 'The body is not `application/json`.' },
  not_ready: {
    status: 503,
    description: 'The database is unreachable or not migrated (readiness check).',
  },
  storage_unavailable: {
    status: 503,
    description:
      'The message could not be stored durably. Retry later with the same Idempotency-Key, which also covers the rare case where the database stored it but its answer was lost.',
  },
  database_unavailable: {
    status: 503,
    description: 'The database is unreachable right now; nothing was changed. Retry later.',
  },
  internal_error: {
    status: 500,
    description: 'A bug. Nothing was accepted; the server log has the details.',
  },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorDetail {
  field: string;
  message: string;
}

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.status = ERROR_CODES[code].status;
  }

  toBody() {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details.length > 0 ? { details: this.details } : {}),
      },
    };
  }
}
