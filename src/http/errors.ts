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
  method_not_allowed: {
    status: 405,
    description:
      'The path exists, but not with this method; the `Allow` header lists the methods it takes.',
  },
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
  request_timeout: {
    status: 408,
    description:
      'The request did not arrive whole in time (`headersTimeout` / `requestTimeout` of the HTTP server). Retry it.',
  },
  payload_too_large: {
    status: 413,
    description:
      'The body is larger than the limit (10 MiB for one message, 50 MiB for a batch, 5 MiB for an Event Webhook batch).',
  },
  unsupported_media_type: {
    status: 415,
    description: 'The body is not `application/json`, or not in UTF-8 (another `charset`).',
  },
  headers_too_large: {
    status: 431,
    description: "The request's headers are larger than Node's limit (16 KiB in all).",
  },
  rate_limited: {
    status: 429,
    description:
      "The unit's sending limit (messages per minute) would be exceeded; nothing was stored. `Retry-After` says in how many seconds the minute ends; the `X-RateLimit-*` headers say the limit, what remains and when it resets.",
  },
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

/**
 * At most this many problems are listed in one error; `details_omitted` counts the rest. Without a
 * cap a 23 MB batch of bad headers produced a 110 MB answer and 1.7 GB of memory.
 */
export const MAX_ERROR_DETAILS = 100;

export class ApiError extends Error {
  readonly status: number;
  readonly details: ErrorDetail[];
  /** Problems found but not listed in `details`. */
  readonly detailsOmitted: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    details: ErrorDetail[] = [],
    detailsOmitted = 0,
  ) {
    super(message);
    this.status = ERROR_CODES[code].status;
    this.details =
      details.length > MAX_ERROR_DETAILS ? details.slice(0, MAX_ERROR_DETAILS) : details;
    this.detailsOmitted = detailsOmitted + details.length - this.details.length;
  }

  /**
   * The status under the name Fastify's own errors use, so that an error handler written for
   * those (the console's) answers it as the client error it is, not as a 500.
   */
  get statusCode(): number {
    return this.status;
  }

  toBody() {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details.length > 0 ? { details: this.details } : {}),
        ...(this.detailsOmitted > 0 ? { details_omitted: this.detailsOmitted } : {}),
      },
    };
  }
}

/** A 400 naming one field and what is wrong with it. */
export function invalidField(field: string, message: string): ApiError {
  return new ApiError('invalid_request', 'the request is invalid; see details', [
    { field, message },
  ]);
}
