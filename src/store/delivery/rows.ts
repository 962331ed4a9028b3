import type { Completion } from '../../domain/ports/delivery-store.ts';
import type { AttemptTable } from '../schema.ts';

/** A finished attempt as its row in `attempts`. */
export function attemptRow({ messageId, attempt }: Completion): AttemptTable {
  return {
    message_id: messageId,
    number: attempt.number,
    provider: attempt.provider,
    started_at: attempt.startedAt,
    duration_ms: attempt.durationMs,
    outcome: attempt.outcome,
    http_status: attempt.httpStatus,
    provider_message_id: attempt.providerMessageId,
    error_class: attempt.errorClass,
    detail: attempt.detail,
    response_excerpt: attempt.responseExcerpt,
    provider_fault: attempt.providerFault,
    provider_errors: attempt.providerErrors ? JSON.stringify(attempt.providerErrors) : null,
    rate_limit: attempt.rateLimit ? JSON.stringify(attempt.rateLimit) : null,
    network_error: attempt.networkError,
  };
}
