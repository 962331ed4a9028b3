import { isCalendarTime } from '../calendar-time.ts';
import { DELIVERY_STATUSES } from '../recipient-state.ts';
import { MESSAGE_STATUSES, type MessageStatus } from '../types.ts';
import type { FieldError } from '../validate-message.ts';
import { UNSENT_REASONS, type UnsentReason } from './unsent.ts';

/**
 * Which messages an operator means: the filters of `GET /v1/messages`, `GET /v1/unsent`, the
 * filter of a recovery and the flags of `tegami recover`. One definition, so a filter matches the
 * same messages whichever way it is given.
 */
export interface MessageQuery {
  status?: MessageStatus;
  /** A unit's name. */
  unit?: string;
  /** An exact address (case-insensitive), or `@domain` for every address at that domain. */
  recipient?: string;
  /**
   * Text in a recipient's display name (`"Taro Tanaka" <…>`), any case: support is often given
   * the guest's name rather than the address.
   */
  recipientName?: string;
  /**
   * Text anywhere in a recipient's address or display name, any case: what support is told
   * ("my address starts with tanaka…"), when the guest gave no name or another one.
   */
  recipientText?: string;
  category?: string;
  metadata?: [string, string][];
  /** The provider of the last attempt. */
  provider?: string;
  /** The error class of the last attempt, e.g. `http_400`. */
  errorClass?: string;
  /** A recipient's delivery status; `none`: a recipient with no delivery event yet. */
  deliveryStatus?: DeliveryStatusFilter;
  /** Words that must all appear in the subject (whole words, any case). */
  subject?: string;
  createdAfter?: number;
  createdBefore?: number;
  updatedAfter?: number;
  updatedBefore?: number;
  /** When it was dead-lettered. */
  failedAfter?: number;
  failedBefore?: number;
  /** Only unsent messages with this reason (the unsent view and recoveries). */
  reason?: UnsentReason;
  /** The sender's address (case-insensitive); the console's `from:`. */
  from?: string;
  /**
   * An id a provider gave the message (an attempt's `provider_message_id`: SendGrid's
   * `X-Message-Id`), or the `X-Message-Id` Tegami answered `POST /v3/mail/send` with: the ids
   * support is handed by the application's log or by SendGrid's Activity.
   */
  providerMessageId?: string;
  /**
   * Messages this recovery was the last to requeue (the console's `recovery:`): what became of
   * them, the ones that failed again say.
   */
  recoveryId?: string;
  /** Messages matching none of these conditions, each on its own (the console's `-key:value`). */
  not?: NegatedQuery;
}

/** The conditions a query may exclude: all but the unit, the unsent reason and an id. */
export type NegatedQuery = Omit<
  MessageQuery,
  'unit' | 'reason' | 'providerMessageId' | 'recoveryId' | 'not'
>;

export const DELIVERY_STATUS_FILTERS = [...DELIVERY_STATUSES, 'none'] as const;
export type DeliveryStatusFilter = (typeof DELIVERY_STATUS_FILTERS)[number];

/** The query's field names as the API and the CLI spell them. */
export const QUERY_FIELDS = [
  'status',
  'unit',
  'recipient',
  'recipient_name',
  'recipient_text',
  'category',
  'metadata',
  'provider',
  'error_class',
  'delivery_status',
  'subject',
  'created_after',
  'created_before',
  'updated_after',
  'updated_before',
  'failed_after',
  'failed_before',
  'reason',
  'provider_message_id',
] as const;

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * An ISO 8601 date or time as epoch ms, or NaN. A time without a zone is UTC: an operator's
 * `--since 2026-12-01T14:00` must mean the same on every server.
 */
export function parseIsoTime(value: string): number {
  if (!ISO_TIME.test(value) || !isCalendarTime(value)) return Number.NaN;
  const hasZone = /(Z|[+-]\d{2}:\d{2})$/.test(value);
  const withZone = value.includes('T') && !hasZone ? `${value}Z` : value;
  return Date.parse(withZone);
}

/**
 * The words of a text for subject search, split and folded as SQLite's FTS5 `unicode61` tokenizer
 * does (remove_diacritics 2): runs of letters, digits and private-use characters, lower-cased,
 * with Latin accents removed. A run of Japanese or Chinese characters is one word: there is no
 * word segmentation. A search takes its first `max` words; a subject searched is all its words,
 * as the index holds them.
 */
export function subjectWords(text: string, max = 20): string[] {
  const words: string[] = [];
  for (const token of text.match(/(?:[\p{L}\p{N}\p{Co}]|[\u0300-\u036f])+/gu) ?? []) {
    // Accents only: a whole normalisation would also change characters the index keeps as they
    // are (compatibility ideographs, full-width letters).
    const word = token
      .replace(/\p{L}/gu, (c) => {
        const decomposed = c.normalize('NFD');
        const bare = decomposed.replace(/[\u0300-\u036f]/g, '');
        return bare !== decomposed && bare.length === 1 ? bare : c;
      })
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase();
    if (word !== '') words.push(word);
    if (words.length === max) break;
  }
  return words;
}

/**
 * How much of a subject its words are read from, in characters (code points). Native subjects
 * are far shorter (998); one forwarded through `POST /v3/mail/send` may be megabytes, more than
 * PostgreSQL's tsvector holds (1 MB), and every search of mail not yet indexed reads it again.
 */
export const SUBJECT_SEARCHED_CHARACTERS = 10_000;

/** The part of a subject that subject search reads (SUBJECT_SEARCHED_CHARACTERS). */
export function searchedPartOfSubject(subject: string): string {
  // Fewer UTF-16 units than the limit means fewer code points too.
  if (subject.length <= SUBJECT_SEARCHED_CHARACTERS) return subject;
  let end = 0;
  for (let points = 0; points < SUBJECT_SEARCHED_CHARACTERS && end < subject.length; points++) {
    end += (subject.codePointAt(end) ?? 0) > 0xffff ? 2 : 1;
  }
  return subject.slice(0, end);
}

/** Whether every one of `words` is a word of `subject` (of its searched part). */
export function hasAllWords(subject: string, words: string[]): boolean {
  const present = new Set(subjectWords(searchedPartOfSubject(subject), Number.POSITIVE_INFINITY));
  return words.every((w) => present.has(w));
}

/**
 * The ids a pasted provider id may stand for: itself, and its part before the first dot, for an
 * event's `sg_message_id` (`<X-Message-Id>.filter0001.16648.5515E0B88.0`), which names the message
 * by the `X-Message-Id` it starts with. Both are tried, as another provider's ids may hold dots.
 */
export function providerMessageIdCandidates(id: string): string[] {
  const dot = id.indexOf('.');
  return dot > 0 ? [id, id.slice(0, dot)] : [id];
}

/** A `recipient` filter for a whole domain (`@example.jp`), lower-cased; null for an address. */
export function recipientDomain(recipient: string): string | null {
  return recipient.startsWith('@') ? recipient.slice(1).toLowerCase() : null;
}

export interface ParseOptions {
  /** Prefix of each error's field name: `querystring.` or `filter.`. */
  fieldPrefix: string;
  /** Whether `reason` may be given (the unsent view and recoveries). */
  allowReason: boolean;
}

/**
 * Reads a query from loosely typed input: a query string (metadata as `key=value` strings) or a
 * JSON object (metadata as an object of strings). Returns the query, or what is wrong with it.
 */
export function parseMessageQuery(
  input: Record<string, unknown>,
  options: ParseOptions,
): { query: MessageQuery; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const query: MessageQuery = {};
  const fail = (field: string, message: string) =>
    errors.push({ field: `${options.fieldPrefix}${field}`, message });
  const text = (field: string, max: number): string | undefined => {
    const value = input[field];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '' || value.length > max) {
      fail(field, `must be a text of 1 to ${max} characters`);
      return undefined;
    }
    return value;
  };
  const oneOf = <T extends string>(field: string, allowed: readonly T[]): T | undefined => {
    const value = input[field];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !allowed.includes(value as T)) {
      fail(field, `must be one of: ${allowed.join(', ')}`);
      return undefined;
    }
    return value as T;
  };
  const time = (field: string): number | undefined => {
    const value = input[field];
    if (value === undefined) return undefined;
    const ms = typeof value === 'string' ? parseIsoTime(value) : Number.NaN;
    if (Number.isNaN(ms)) {
      fail(field, 'must be an ISO 8601 time, e.g. 2026-12-01T14:00:00Z');
      return undefined;
    }
    return ms;
  };

  for (const field of Object.keys(input)) {
    // As anywhere else: PostgreSQL cannot hold it, so it is refused on every engine.
    if (typeof input[field] === 'string' && (input[field] as string).includes('\u0000')) {
      fail(field, 'must not contain NUL (\\u0000) characters');
      continue;
    }
    if (
      !(QUERY_FIELDS as readonly string[]).includes(field) ||
      (field === 'reason' && !options.allowReason)
    ) {
      fail(field, 'is not a filter');
    }
  }

  const status = oneOf('status', MESSAGE_STATUSES);
  if (status) query.status = status;
  const unit = text('unit', 63);
  if (unit) query.unit = unit;
  const recipient = text('recipient', 320);
  if (recipient) {
    const domain = recipientDomain(recipient);
    if (domain !== null && (domain === '' || domain.includes('@'))) {
      fail('recipient', 'must be an address, or @ followed by a domain (e.g. @example.jp)');
    } else query.recipient = recipient;
  }
  const recipientName = text('recipient_name', 200)?.trim();
  if (recipientName === '') fail('recipient_name', 'must not be blank');
  else if (recipientName) query.recipientName = recipientName;
  const recipientText = text('recipient_text', 200)?.trim();
  if (recipientText === '') fail('recipient_text', 'must not be blank');
  else if (recipientText) query.recipientText = recipientText;
  const category = text('category', 255);
  if (category) query.category = category;
  const provider = text('provider', 64);
  if (provider) query.provider = provider;
  const errorClass = text('error_class', 128);
  if (errorClass) query.errorClass = errorClass;
  const deliveryStatus = oneOf('delivery_status', DELIVERY_STATUS_FILTERS);
  if (deliveryStatus) query.deliveryStatus = deliveryStatus;
  const subject = text('subject', 998);
  if (subject) {
    if (subjectWords(subject).length === 0) fail('subject', 'must contain a word');
    else query.subject = subject;
  }
  const reason = options.allowReason ? oneOf('reason', UNSENT_REASONS) : undefined;
  if (reason) query.reason = reason;
  const providerMessageId = text('provider_message_id', 255)?.trim();
  if (providerMessageId === '') fail('provider_message_id', 'must not be blank');
  else if (providerMessageId) query.providerMessageId = providerMessageId;

  const metadata = input.metadata;
  if (metadata !== undefined) {
    const pairs: [string, string][] = [];
    if (typeof metadata === 'string' || Array.isArray(metadata)) {
      for (const pair of ([] as unknown[]).concat(metadata)) {
        const eq = typeof pair === 'string' ? pair.indexOf('=') : -1;
        if (typeof pair !== 'string' || eq < 1) fail('metadata', 'must be key=value');
        else pairs.push([pair.slice(0, eq), pair.slice(eq + 1)]);
      }
    } else if (typeof metadata === 'object' && metadata !== null) {
      for (const [key, value] of Object.entries(metadata)) {
        if (key === '' || typeof value !== 'string') {
          fail('metadata', 'must be an object of non-empty keys and text values');
        } else pairs.push([key, value]);
      }
    } else {
      fail('metadata', 'must be key=value pairs');
    }
    if (pairs.some(([key, value]) => `${key}${value}`.includes('\u0000'))) {
      fail('metadata', 'must not contain NUL (\\u0000) characters');
    } else if (pairs.length > 10) fail('metadata', 'at most 10 pairs');
    else if (pairs.length > 0) query.metadata = pairs;
  }

  const timeFields = [
    ['created_after', 'createdAfter'],
    ['created_before', 'createdBefore'],
    ['updated_after', 'updatedAfter'],
    ['updated_before', 'updatedBefore'],
    ['failed_after', 'failedAfter'],
    ['failed_before', 'failedBefore'],
  ] as const;
  for (const [field, key] of timeFields) {
    const ms = time(field);
    if (ms !== undefined) query[key] = ms;
  }
  return { query, errors };
}

/** The query as JSON in the API's spelling (for audit records and a recovery's `filter`). */
export function queryToJson(query: MessageQuery): Record<string, unknown> {
  const iso = (ms: number | undefined) =>
    ms === undefined ? undefined : new Date(ms).toISOString();
  const out: Record<string, unknown> = {
    status: query.status,
    unit: query.unit,
    recipient: query.recipient,
    recipient_name: query.recipientName,
    recipient_text: query.recipientText,
    category: query.category,
    metadata: query.metadata ? Object.fromEntries(query.metadata) : undefined,
    provider: query.provider,
    error_class: query.errorClass,
    delivery_status: query.deliveryStatus,
    subject: query.subject,
    created_after: iso(query.createdAfter),
    created_before: iso(query.createdBefore),
    updated_after: iso(query.updatedAfter),
    updated_before: iso(query.updatedBefore),
    failed_after: iso(query.failedAfter),
    failed_before: iso(query.failedBefore),
    reason: query.reason,
    from: query.from,
    provider_message_id: query.providerMessageId,
    recovery_id: 'recoveryId' in query ? query.recoveryId : undefined,
    not: query.not ? queryToJson(query.not) : undefined,
  };
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key];
  return out;
}

export function isEmptyQuery(query: MessageQuery): boolean {
  return Object.keys(queryToJson(query)).length === 0;
}
