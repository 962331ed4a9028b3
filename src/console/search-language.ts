import {
  DELIVERY_STATUS_FILTERS,
  type DeliveryStatusFilter,
  type MessageQuery,
  type NegatedQuery,
  parseIsoTime,
  recipientDomain,
  subjectWords,
} from '../domain/operations/message-query.ts';
import { UNSENT_REASONS, type UnsentReason } from '../domain/operations/unsent.ts';
import { MESSAGE_STATUSES, type MessageStatus } from '../domain/types.ts';
import { isValidEmail } from '../domain/validate-message.ts';

/**
 * The console's search box: `key:value` terms, `-key:value` to exclude, "quoted values", bare
 * words (a word with an @ searches recipients, anything else the subject). Pure functions, so the
 * language is tested without a server; the result is the same `MessageQuery` the API and the CLI
 * use, so a search finds what `GET /v1/messages` would.
 */
export const SEARCH_KEYS = [
  'to',
  'from',
  'subject',
  'status',
  'reason',
  'unit',
  'category',
  'provider',
  'error',
  'event',
  'before',
  'after',
  'id',
  'recovery',
] as const;

export interface SearchTerm {
  key: string;
  value: string;
  negated: boolean;
}

export interface ParsedSearch {
  query: MessageQuery;
  /** `id:msg_…` looks one message up (another `id:` is a provider's id, in `query`). */
  id?: string;
  terms: SearchTerm[];
  errors: string[];
}

/**
 * Splits the text into terms; a value in double quotes may hold spaces. A key with nothing after
 * it (`error:` at the end, or before a space) is a term of that key with an empty value, so that
 * it is refused as one ("error: needs a value") instead of searching subjects for the word.
 */
export function tokenize(text: string): SearchTerm[] {
  const terms: SearchTerm[] = [];
  // The last alternative, an empty value, is reached only right after a key's colon: anywhere
  // else `\S+` takes the term's first character.
  const re = /(-)?(?:([A-Za-z][\w.-]*):)?(?:"([^"]*)"?|(\S+)|(?<=:)(?=\s|$))/gy;
  let i = 0;
  while (i < text.length) {
    if (/\s/.test(text[i] as string)) {
      i++;
      continue;
    }
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) break;
    i = re.lastIndex;
    const value = m[3] ?? m[4] ?? '';
    terms.push({ key: (m[2] ?? '').toLowerCase(), value, negated: m[1] === '-' });
  }
  return terms;
}

function notASearchKey(key: string): string {
  return `${key}: is not a search key (${SEARCH_KEYS.join(', ')}, meta.KEY)`;
}

const TIME_HINT = 'a date or time like 2026-12-01 or 2026-12-01T14:00 (UTC)';

export function parseSearch(text: string): ParsedSearch {
  const terms = tokenize(text.slice(0, 2000));
  const query: MessageQuery = {};
  const not: NegatedQuery = {};
  const errors: string[] = [];
  const subject: string[] = [];
  const notSubject: string[] = [];
  let id: string | undefined;
  for (const term of terms) {
    const { value, negated } = term;
    const key = term.key === '' ? (value.includes('@') ? 'to' : 'subject') : term.key;
    const target: NegatedQuery = negated ? not : query;
    const once = <K extends keyof NegatedQuery>(field: K, v: NegatedQuery[K]) => {
      if (target[field] !== undefined) errors.push(`${key}: give it once`);
      else target[field] = v;
    };
    const positiveOnly = () => {
      if (negated) errors.push(`-${key}: cannot be excluded`);
      return !negated;
    };
    if (key.startsWith('meta.')) {
      const name = key.slice(5);
      if (name === '') errors.push('meta.KEY:VALUE needs a key');
      else if (value === '') errors.push(`${key}: needs a value`);
      else target.metadata = [...(target.metadata ?? []), [term.key.slice(5), value]];
      continue;
    }
    if (value === '') {
      // A word that is no key, followed by a space (`Re: booking`, `Confirmed: 4 nights`, as
      // pasted from a subject), is a word of the subject, as it was before keys took empty values.
      if ((SEARCH_KEYS as readonly string[]).includes(key)) errors.push(`${key}: needs a value`);
      else (negated ? notSubject : subject).push(`${term.key}:`);
      continue;
    }
    switch (key) {
      case 'to': {
        // An address, a domain (`to:@example.jp`), or else text of a recipient's address or
        // name (`to:tanaka`, `to:"Taro Tanaka"`, `to:tanaka@`): support is told a name, or how
        // the guest's address starts, more often than the whole address. Only what could be a
        // recipient's address is looked up whole: `to:tanaka@gmail` would find nothing so.
        const text = value.trim();
        const domain = recipientDomain(text);
        if (text === '') errors.push('to: needs a value');
        else if (domain !== null && (domain === '' || domain.includes('@'))) {
          errors.push(
            'to: an address, @ and a domain (to:@example.jp), or text of an address or name',
          );
        } else if (domain !== null || isValidEmail(text)) once('recipient', text);
        else once('recipientText', text);
        break;
      }
      case 'from':
        once('from', value);
        break;
      case 'subject':
        if (subjectWords(value).length === 0) errors.push(`subject: "${value}" has no word`);
        else (negated ? notSubject : subject).push(value);
        break;
      case 'status':
        if (!(MESSAGE_STATUSES as readonly string[]).includes(value)) {
          errors.push(`status: one of ${MESSAGE_STATUSES.join(', ')}`);
        } else once('status', value as MessageStatus);
        break;
      case 'reason':
        if (!(UNSENT_REASONS as readonly string[]).includes(value)) {
          errors.push(`reason: one of ${UNSENT_REASONS.join(', ')}`);
        } else if (positiveOnly()) query.reason = value as UnsentReason;
        break;
      case 'unit':
        if (positiveOnly()) query.unit = value;
        break;
      case 'category':
        once('category', value);
        break;
      case 'provider':
        once('provider', value);
        break;
      case 'error':
        once('errorClass', value);
        break;
      case 'event':
        if (!(DELIVERY_STATUS_FILTERS as readonly string[]).includes(value)) {
          errors.push(`event: one of ${DELIVERY_STATUS_FILTERS.join(', ')}`);
        } else once('deliveryStatus', value as DeliveryStatusFilter);
        break;
      case 'before':
      case 'after': {
        const ms = parseIsoTime(value);
        if (Number.isNaN(ms)) errors.push(`${key}: ${TIME_HINT}`);
        else if (positiveOnly()) query[key === 'before' ? 'createdBefore' : 'createdAfter'] = ms;
        break;
      }
      case 'id':
        // Tegami's own id looks the message up; any other (SendGrid's X-Message-Id, an event's
        // sg_message_id, the X-Message-Id a /v3 application logged) is a provider's id.
        if (positiveOnly()) {
          if (/^msg_/.test(value)) id = value;
          else if (value.trim() !== '') query.providerMessageId = value.trim();
        }
        break;
      case 'recovery':
        // The messages a recovery was the last to requeue (its page links here).
        if (positiveOnly()) {
          if (query.recoveryId !== undefined) errors.push('recovery: give it once');
          else query.recoveryId = value;
        }
        break;
      default:
        errors.push(notASearchKey(term.key));
    }
  }
  if (subject.length > 0) query.subject = subject.join(' ');
  if (notSubject.length > 0) not.subject = notSubject.join(' ');
  if (Object.keys(not).length > 0) query.not = not;
  return { query, terms, errors, ...(id !== undefined ? { id } : {}) };
}

/** A value as the search box writes it: quoted when it holds a space or a quote. */
export function searchValue(value: string): string {
  return /[\s"]/.test(value) || value === '' ? `"${value.replace(/"/g, '')}"` : value;
}

/**
 * The search text with `key:value` in place of any term of that key it has (a key may be given
 * once: the same key twice was refused), or added (the "filter by this" links). A bare address
 * counts as `to:`, another bare word as `subject:`, and keys are read in any case, as the parser
 * reads them.
 */
export function addTerm(text: string, key: string, value: string): string {
  const keyOf = (t: SearchTerm) => t.key || (t.value.includes('@') ? 'to' : 'subject');
  const kept = tokenize(text)
    .filter((t) => t.negated || keyOf(t) !== key.toLowerCase())
    .map((t) => `${t.negated ? '-' : ''}${t.key ? `${t.key}:` : ''}${searchValue(t.value)}`);
  return [...kept, `${key}:${searchValue(value)}`].join(' ');
}

/**
 * A filter as the API and the audit log keep it (`queryToJson`), in the search box's words, so a
 * recovery's filter reads as it was typed and can be searched again. `rest`: what the language
 * cannot say (`failed_after`, `updated_before`, a recipient's name alone), shown as it is.
 */
export function searchWordsOf(filter: Record<string, unknown>): {
  text: string;
  rest: Record<string, unknown>;
} {
  const words: string[] = [];
  const rest: Record<string, unknown> = {};
  const KEYS: Record<string, string> = {
    status: 'status',
    reason: 'reason',
    unit: 'unit',
    recipient: 'to',
    recipient_text: 'to',
    from: 'from',
    category: 'category',
    provider: 'provider',
    error_class: 'error',
    delivery_status: 'event',
    created_after: 'after',
    created_before: 'before',
    provider_message_id: 'id',
    recovery_id: 'recovery',
  };
  const add = (source: Record<string, unknown>, negated: boolean) => {
    const sign = negated ? '-' : '';
    // What narrows most first, as an operator types it (`reason:failed unit:hotel …`).
    const first = ['status', 'reason', 'unit'].filter((f) => f in source);
    const fields = [...first, ...Object.keys(source).filter((f) => !first.includes(f))];
    for (const field of fields) {
      const value = source[field];
      const key = KEYS[field];
      if (key && typeof value === 'string') {
        words.push(`${sign}${key}:${searchValue(value)}`);
      } else if (field === 'subject' && typeof value === 'string') {
        words.push(`${sign}subject:${searchValue(value)}`);
      } else if (field === 'metadata' && value && typeof value === 'object') {
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          words.push(`${sign}meta.${k}:${searchValue(String(v))}`);
        }
      } else if (field === 'not' && !negated && value && typeof value === 'object') {
        add(value as Record<string, unknown>, true);
      } else if (negated) {
        rest.not = { ...((rest.not as Record<string, unknown>) ?? {}), [field]: value };
      } else {
        rest[field] = value;
      }
    }
  };
  add(filter, false);
  return { text: words.join(' '), rest };
}
