import {
  MAX_REQUESTED_WAIT_MS,
  type ProviderError,
  type RateLimitInfo,
  type SendResult,
} from '../../domain/types.ts';

/**
 * Turns SendGrid's answer to `POST /v3/mail/send` into a `SendResult`: whose fault a failure is
 * (the message's, or the provider's state), and everything an operator needs to see it at a
 * glance: status, SendGrid's `errors[]`, rate-limit headers, X-Message-Id, a bounded body excerpt.
 */

/** Raw answers are kept up to this many characters. */
export const EXCERPT_LIMIT = 2_000;

/**
 * The longest X-Message-Id kept. SendGrid's are 22 characters; the id is indexed (events are
 * matched by it), and PostgreSQL refuses an index entry over ~2.7 kB: an odd answer with a longer
 * one would fail the attempt's record, and the message, sent, would go out again.
 */
export const MAX_PROVIDER_MESSAGE_ID_LENGTH = 256;

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function header(answer: HttpAnswer, name: string): string | undefined {
  const value = answer.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseErrors(body: string): ProviderError[] | undefined {
  // SendGrid's 202 has an empty body: parsing it would throw (and build a stack) on every send.
  if (!body.includes('"errors"')) return undefined;
  try {
    const parsed = JSON.parse(body) as { errors?: unknown };
    if (!Array.isArray(parsed.errors)) return undefined;
    return parsed.errors.map((e: Record<string, unknown>) => ({
      message: typeof e?.message === 'string' ? e.message : JSON.stringify(e?.message ?? e),
      field: typeof e?.field === 'string' ? e.field : null,
      help: typeof e?.help === 'string' ? e.help : null,
    }));
  } catch {
    return undefined;
  }
}

function rateLimitOf(answer: HttpAnswer): RateLimitInfo | undefined {
  const info: RateLimitInfo = {};
  for (const [key, name] of [
    ['limit', 'x-ratelimit-limit'],
    ['remaining', 'x-ratelimit-remaining'],
    ['reset', 'x-ratelimit-reset'],
  ] as const) {
    const value = Number(header(answer, name));
    if (header(answer, name) !== undefined && Number.isFinite(value)) info[key] = value;
  }
  return Object.keys(info).length > 0 ? info : undefined;
}

/** Retry-After (seconds or an HTTP date), else X-RateLimit-Reset (epoch seconds). */
export function waitRequested(answer: HttpAnswer, now: number): number | undefined {
  const within = (ms: number) => Math.min(Math.max(0, ms), MAX_REQUESTED_WAIT_MS);
  const retryAfter = header(answer, 'retry-after');
  if (retryAfter !== undefined) {
    if (/^\d+$/.test(retryAfter.trim())) return within(Number(retryAfter.trim()) * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return within(date - now);
  }
  const reset = Number(header(answer, 'x-ratelimit-reset'));
  if (Number.isFinite(reset) && reset > 0) return within(reset * 1000 - now);
  return undefined;
}

/** A one-line summary of a non-JSON answer, e.g. an nginx page: its title, else its start. */
function summariseText(body: string): string {
  const title = /<title>([^<]{1,200})<\/title>/i.exec(body)?.[1];
  const text = (title ?? body).replace(/\s+/g, ' ').trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export function classifyAnswer(answer: HttpAnswer, now: number): SendResult {
  const { status } = answer;
  const providerErrors = parseErrors(answer.body);
  const rateLimit = rateLimitOf(answer);
  const common: Partial<SendResult> = {
    httpStatus: status,
    ...(providerErrors ? { providerErrors } : {}),
    ...(rateLimit ? { rateLimit } : {}),
  };
  const sentId = header(answer, 'x-message-id');
  const messageId =
    sentId !== undefined && sentId.length <= MAX_PROVIDER_MESSAGE_ID_LENGTH ? sentId : undefined;
  if (status >= 200 && status < 300) {
    return {
      outcome: 'accepted',
      ...common,
      ...(messageId ? { providerMessageId: messageId } : {}),
    };
  }

  const detail = providerErrors?.length
    ? providerErrors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join('; ')
    : answer.body.trim() === ''
      ? `HTTP ${status} with an empty body`
      : `HTTP ${status}: ${summariseText(answer.body)}`;
  const failure: SendResult = {
    outcome: 'retryable',
    ...common,
    errorClass: `http_${status}`,
    detail,
    responseExcerpt: answer.body.slice(0, EXCERPT_LIMIT),
  };

  if (status === 429) {
    const wait = waitRequested(answer, now);
    return {
      ...failure,
      providerFault: 'rate_limited',
      ...(wait !== undefined ? { retryAfterMs: wait } : {}),
    };
  }
  if (status >= 500 || status === 408) return { ...failure, providerFault: 'outage' };
  // A 403 about the sender (`"field": "from"`, "does not match a verified Sender Identity") is
  // this message's: other mail, from verified senders, goes on. Pausing the provider for it held
  // every unit's mail, and each probe that sent it again paused it again. It is retried with the
  // message's back-off, not dead-lettered at once: when no sender of the account is verified
  // (its domain authentication lapsed), every message gets this answer, and mail waits for the
  // fix instead of being dead-lettered whole.
  if (status === 403 && providerErrors?.some(isUnverifiedSender)) {
    return { ...failure, errorClass: 'sender_not_verified' };
  }
  // 401/403: bad or revoked key, a key without the mail.send scope, exceeded messaging limits.
  // 404/405: a wrong base URL. Each fails every message alike, so the provider is paused instead.
  if (status === 401 || status === 403 || status === 404 || status === 405) {
    return { ...failure, providerFault: 'account' };
  }
  // 400, 413 and any other 4xx: the message itself is wrong; sending it again cannot work.
  return { ...failure, outcome: 'permanent' };
}

function isUnverifiedSender(error: { field?: string | null; message: string }): boolean {
  return error.field === 'from' || /verified sender identity/i.test(error.message);
}

/** Error codes that mean the request may have reached SendGrid before the connection was lost. */
const SENT_THEN_TIMED_OUT = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'timeout',
  'abandoned',
]);

/** A request that got no HTTP answer: refused, reset, DNS failure, timeout. Always retryable. */
export function classifyNetworkError(code: string, message: string): SendResult {
  const unknown = SENT_THEN_TIMED_OUT.has(code);
  return {
    outcome: unknown ? 'unknown' : 'retryable',
    providerFault: 'outage',
    errorClass: code,
    networkError: code,
    detail: unknown
      ? `no answer after the request was sent (${message}); SendGrid may have accepted it`
      : message,
  };
}
