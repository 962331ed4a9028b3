import { domainToASCII } from 'node:url';
import { isCalendarTime } from './calendar-time.ts';
import type { Priority } from './priority.ts';
import {
  type Address,
  ATTACHMENT_DISPOSITIONS,
  type Attachment,
  type MessageContent,
} from './types.ts';

/**
 * Rules a message must meet beyond its JSON shape (which the API schema checks). Kept here, not in
 * a route, because every way in (REST, batch, later SMTP and the SendGrid-compatible endpoint)
 * must apply the same rules.
 */

/** SendGrid accepts at most 1,000 recipients in one request; we keep every message sendable. */
export const MAX_RECIPIENTS = 1000;
/** SendGrid: "categories" holds at most 10 items of at most 255 characters, all printable ASCII. */
export const MAX_CATEGORIES = 10;
export const MAX_CATEGORY_LENGTH = 255;
/**
 * SendGrid refuses a personalization whose custom_args exceed 10,000 bytes. Tegami's SendGrid
 * provider sends the metadata there plus `tegami_message_id` (src/providers/sendgrid/
 * mail-send-body.ts), so the metadata gets what the id leaves. Both are measured as JSON, which
 * counts every byte SendGrid could count (and the quotes and commas besides).
 */
export const SENDGRID_CUSTOM_ARGS_BYTES = 10_000;
/** What `,"tegami_message_id":"msg_<26-character ULID>"` adds to the metadata's JSON: 53 bytes. */
const MESSAGE_ID_ARG_BYTES = `,"tegami_message_id":"msg_${'0'.repeat(26)}"`.length;
export const MAX_METADATA_BYTES = SENDGRID_CUSTOM_ARGS_BYTES - MESSAGE_ID_ARG_BYTES;
/** Map keys are limited here; the API schema checks only the values of headers and metadata. */
export const MAX_METADATA_KEY_LENGTH = 256;
export const MAX_HEADER_NAME_LENGTH = 256;
/** RFC 5322 caps a line at 998 characters; a longer subject or header cannot be sent as is. */
export const MAX_HEADER_VALUE_LENGTH = 998;
/**
 * An attachment's media type is one token, which a header line cannot fold: RFC 6838 (4.2) gives
 * type and subtype 127 characters each, so 255 with the slash. A longer one made a Content-Type
 * line over RFC 5322's 998 characters. (Filenames have no such limit in the mail: they are
 * written in RFC 2231 continuations.)
 */
export const MAX_CONTENT_TYPE_LENGTH = 255;
/** An attachment's content ID is one token of a header line too (`Content-ID: <id>`). */
export const MAX_CONTENT_ID_LENGTH = MAX_CONTENT_TYPE_LENGTH;
/**
 * One message is at most 10 MiB as JSON, however it arrives. That is the body limit of
 * `POST /v1/messages` (src/api/app.ts); without the same limit per message, a batch (50 MiB)
 * could carry a message over SendGrid's 30 MB per request, refused with 413 after our 202.
 */
export const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
export const MAX_SCHEDULE_AHEAD_MS = 30 * 24 * 3600 * 1000;

/**
 * Header names a caller may not set, compared without case (see also the prefixes below).
 * Tegami or the provider writes them (From, Date, Message-ID, ...), or they would change who gets
 * the mail or what receivers believe about it: Return-Path and Errors-To route bounces,
 * Received and the authentication headers are trace fields only relays may add, and SendGrid's
 * X-SMTPAPI can add recipients. SendGrid itself refuses a subset of this list.
 */
export const RESERVED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'subject',
  'reply-to',
  'sender',
  'date',
  'message-id',
  'mime-version',
  'return-path',
  'errors-to',
  'return-receipt-to',
  'apparently-to',
  'delivered-to',
  'envelope-to',
  'x-original-to',
  'received',
  'received-spf',
  'authentication-results',
  'dkim-signature',
  'domainkey-signature',
  'x-sg-id',
  'x-sg-eid',
  'x-smtpapi',
]);
/**
 * Whole families: Content-* describe the MIME structure we build, Resent-* (Resent-To,
 * Resent-Bcc, ...) re-address the mail, ARC-* are relays' signatures, and X-Tegami-* are ours
 * (`X-Tegami-Message-Id` would otherwise appear twice, once forged).
 */
export const RESERVED_HEADER_PREFIXES = ['content-', 'resent-', 'arc-', 'x-tegami-'];

/**
 * Header fields that are written as they are, never as RFC 2047 encoded words: In-Reply-To and
 * References hold Message-IDs (RFC 5322 section 3.6.4), OTP-Token is a structured field (RFC
 * 9651). An encoded word there is read as literal characters, not as text, so nodemailer, which
 * builds the mail, writes non-ASCII in them as raw 8-bit bytes (its mime-node encodeHeaderValue;
 * the other fields it treats so, From, Date, Message-ID, Content-* and the like, are reserved).
 * Their values must be ASCII.
 */
export const ASCII_ONLY_HEADERS: ReadonlyMap<string, string> = new Map([
  ['in-reply-to', 'holds Message-IDs (<id@host>), which are ASCII'],
  ['references', 'holds Message-IDs (<id@host>), which are ASCII'],
  ['otp-token', 'is a structured field (RFC 9651), which is ASCII'],
]);
/**
 * Structured fields an application may set whose syntax an encoded word would break (RFC 2047
 * section 5 allows them only in text and phrases): the list headers of RFC 2369 and 2919 (List-
 * Unsubscribe above all, which a receiver's one-click unsubscribe reads), Autocrypt, Feedback-ID.
 * Any other field is unstructured (RFC 5322 section 3.6.8: optional fields are).
 */
export function isStructuredHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower.startsWith('list-') || lower === 'autocrypt' || lower === 'feedback-id';
}

/**
 * The longest run without a space or tab in a header written as it is (structured, or one of
 * ASCII_ONLY_HEADERS). Such a header can fold only at its whitespace, and a run that does not fit
 * after the field's name goes on a line of its own behind the folding space: 997 characters and
 * that space make RFC 5322's 998. (Unstructured text folds anywhere, as encoded words.)
 */
export const MAX_HEADER_TOKEN_LENGTH = 997;
const LONGEST_TOKEN = new RegExp(`[^ \\t]{${MAX_HEADER_TOKEN_LENGTH + 1}}`);

/** Printable ASCII and TAB: what a header of ASCII_ONLY_HEADERS may hold. */
const HEADER_ASCII = /^[\t\x20-\x7e]*$/;

/** True for a header name a caller may not set, in any letter case. */
export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return (
    RESERVED_HEADERS.has(lower) ||
    RESERVED_HEADER_PREFIXES.some((prefix) => lower.startsWith(prefix))
  );
}

export interface FieldError {
  field: string;
  message: string;
}

/** The API's input shape (already checked against the JSON schema). */
export interface MessageInput {
  from: Address;
  to: Address[];
  cc?: Address[];
  bcc?: Address[];
  reply_to?: Address;
  subject: string;
  text?: string;
  html?: string;
  headers?: Record<string, string>;
  categories?: string[];
  metadata?: Record<string, string>;
  attachments?: Attachment[];
  send_at?: string;
  priority?: Priority;
}

export interface ValidMessage {
  content: MessageContent;
  /** Epoch ms, or null to send at once. */
  sendAt: number | null;
  /** Absent: the API key's or unit's default (resolvePriority). */
  priority?: Priority;
}

// A pragmatic subset of RFC 5321: dot-atom local part, hostname with a dot-separated TLD.
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const HEADER_NAME = /^[!-9;-~]+$/; // printable ASCII except ':' (RFC 5322 field-name)
/**
 * What must not reach a header line: control characters (\p{Cc}: U+0000-U+001F, U+007F-U+009F)
 * but TAB, since CR and LF would start a new header and the others corrupt it, and U+2028/U+2029,
 * which JavaScript and some mail software read as line breaks.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL_OR_LINE_BREAK = /[\0-\x08\n-\x1f\x7f-\x9f\u2028\u2029]/;
/** The same plus TAB, for names that are no running text: metadata keys and filenames. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const ANY_CONTROL_OR_LINE_BREAK = /[\0-\x1f\x7f-\x9f\u2028\u2029]/;
/**
 * Unicode's bidi controls (Bidi_Control): U+202E makes `invoice\u202Efdp.exe` show as
 * `invoiceexe.pdf`. Refused where a receiver decides whom to trust or what to open.
 */
const BIDI_CONTROL = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const BIDI_CONTROL_MESSAGE =
  'must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)';
/**
 * False for a string holding half of a UTF-16 surrogate pair, which is not a character at all:
 * stored as text it turns into U+FFFD, so what is read back (or searched for) would differ from
 * what was accepted. String.prototype.isWellFormed (Node 20) is native and several times faster
 * than a regular expression on long bodies; TypeScript's ES2023 library does not declare it yet.
 */
const isWellFormed = (value: string): boolean =>
  (value as unknown as { isWellFormed(): boolean }).isWellFormed();
const UNPAIRED_SURROGATE_MESSAGE = 'must be valid Unicode (no unpaired surrogate \\uD800-\\uDFFF)';
/**
 * Standard base64 is checked as "alphabet, then at most two '=', in whole groups of four". One
 * character class under `*` runs as a plain loop, whatever the length; the former
 * `(?:[A-Za-z0-9+/]{4})*` kept a backtracking entry per group and overflowed V8's stack (a
 * `RangeError`, answered 500) on attachments over about 3 MiB.
 */
const BASE64_CHARACTERS = /^[A-Za-z0-9+/]*={0,2}$/;
/** SendGrid: "Categories can not contain non-ASCII characters" (controls included). */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const MIME_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$/;
/**
 * A content ID: printable ASCII without space, `<` or `>`. It is written as `Content-ID: <id>`,
 * so a bracket would end it early and a space or line break split it; an HTML `cid:` link names
 * it as it is.
 */
const CONTENT_ID = /^[!-;=?-~]+$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Below this many characters of text, html and attachment content together, a message stays far
 * under MAX_MESSAGE_BYTES even with every other field at its limit (under 2 MB of JSON, plus at
 * most 6 bytes per character of these), so its JSON is not measured.
 */
const MEASURE_SIZE_ABOVE_CHARS = 512 * 1024;

/** The longest address (RFC 5321's path limit, less its angle brackets). */
export const MAX_EMAIL_LENGTH = 254;

export function isValidEmail(email: string): boolean {
  if (email.length > MAX_EMAIL_LENGTH) return false;
  const at = email.lastIndexOf('@');
  if (at < 1) return false;
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (local.length > 64 || !LOCAL_PART.test(local)) return false;
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  return labels.every((label) => DOMAIN_LABEL.test(label));
}

/** A content ID the rules take: 1 to 255 characters of CONTENT_ID. */
export function isContentId(value: string): boolean {
  return value.length > 0 && value.length <= MAX_CONTENT_ID_LENGTH && CONTENT_ID.test(value);
}

/** Standard base64 (RFC 4648 section 4, padded, no line breaks), checked in linear time. */
export function isStandardBase64(value: string): boolean {
  return value.length % 4 === 0 && BASE64_CHARACTERS.test(value);
}

/**
 * Why an address is refused, in words. An internationalised domain (`guest@例え.jp`) is the one
 * a person is likely to type: mail is sent with ASCII addresses, so its ASCII form (punycode) is
 * named, to be used instead.
 */
function emailProblem(email: string): string {
  const at = email.lastIndexOf('@');
  const local = email.slice(0, Math.max(at, 0));
  const domain = email.slice(at + 1);
  if (at >= 1 && NON_ASCII.test(domain) && !NON_ASCII.test(local)) {
    const ascii = domainToASCII(domain);
    if (ascii !== '' && isValidEmail(`${local}@${ascii}`)) {
      return `is not a valid email address: its domain must be written in ASCII, as ${local}@${ascii}`;
    }
  }
  return 'is not a valid email address';
}

const NON_ASCII = /[^\p{ASCII}]/u;

function checkAddress(address: Address, field: string, errors: FieldError[]): void {
  if (!isValidEmail(address.email)) {
    errors.push({ field: `${field}.email`, message: emailProblem(address.email) });
  }
  if (address.name !== undefined) {
    checkText(address.name, `${field}.name`, errors);
    if (BIDI_CONTROL.test(address.name)) {
      errors.push({ field: `${field}.name`, message: BIDI_CONTROL_MESSAGE });
    }
  }
}

/** Text that goes into a header line: no line breaks or control characters, valid Unicode. */
function checkText(value: string, field: string, errors: FieldError[]): void {
  if (CONTROL_OR_LINE_BREAK.test(value)) {
    errors.push({
      field,
      message: 'must not contain line breaks (CR, LF, U+2028, U+2029) or control characters',
    });
  } else if (!isWellFormed(value)) {
    errors.push({ field, message: UNPAIRED_SURROGATE_MESSAGE });
  }
}

function checkHeaderText(value: string, field: string, errors: FieldError[]): void {
  checkText(value, field, errors);
  if (value.length > MAX_HEADER_VALUE_LENGTH) {
    errors.push({ field, message: `must be at most ${MAX_HEADER_VALUE_LENGTH} characters` });
  }
}

/** Body text may hold any character, but only whole ones (see isWellFormed). */
function checkBody(value: string | undefined, field: string, errors: FieldError[]): void {
  if (value !== undefined && !isWellFormed(value)) {
    errors.push({ field, message: UNPAIRED_SURROGATE_MESSAGE });
  }
}

/** Refuses a message over MAX_MESSAGE_BYTES as JSON, naming its largest part as the field. */
function checkSize(input: MessageInput, errors: FieldError[]): void {
  const text = input.text?.length ?? 0;
  const html = input.html?.length ?? 0;
  const attachments = (input.attachments ?? []).reduce((sum, a) => sum + a.content.length, 0);
  if (text + html + attachments <= MEASURE_SIZE_ABOVE_CHARS) return;
  // Valid base64 takes one byte per character in JSON, so contents are counted by length instead
  // of being copied into a second string of up to 50 MiB (invalid ones are refused anyway).
  const withoutContents = {
    ...input,
    attachments: (input.attachments ?? []).map((a) => ({ ...a, content: '' })),
  };
  const bytes = Buffer.byteLength(JSON.stringify(withoutContents)) + attachments;
  if (bytes <= MAX_MESSAGE_BYTES) return;
  const largest =
    attachments >= Math.max(text, html) ? 'attachments' : text >= html ? 'text' : 'html';
  errors.push({
    field: largest,
    message: `makes the message ${bytes} bytes as JSON; one message may have at most ${MAX_MESSAGE_BYTES} (10 MiB)`,
  });
}

export function validateMessage(input: MessageInput, now: number): ValidMessage | FieldError[] {
  const errors: FieldError[] = [];
  const to = input.to ?? [];
  const cc = input.cc ?? [];
  const bcc = input.bcc ?? [];

  checkAddress(input.from, 'from', errors);
  if (input.reply_to) checkAddress(input.reply_to, 'reply_to', errors);
  if (to.length === 0) errors.push({ field: 'to', message: 'needs at least one recipient' });

  const seen = new Set<string>();
  for (const [kind, list] of [
    ['to', to],
    ['cc', cc],
    ['bcc', bcc],
  ] as const) {
    list.forEach((address, i) => {
      checkAddress(address, `${kind}[${i}]`, errors);
      const key = address.email.toLowerCase();
      if (seen.has(key)) {
        errors.push({
          field: `${kind}[${i}].email`,
          message: 'appears more than once in to/cc/bcc',
        });
      }
      seen.add(key);
    });
  }
  const recipientCount = to.length + cc.length + bcc.length;
  if (recipientCount > MAX_RECIPIENTS) {
    errors.push({
      field: 'to',
      message: `too many recipients: ${recipientCount} in to/cc/bcc, at most ${MAX_RECIPIENTS}`,
    });
  }

  if (input.subject.trim() === '') errors.push({ field: 'subject', message: 'must not be empty' });
  checkHeaderText(input.subject, 'subject', errors);

  if (!input.text && !input.html) {
    errors.push({ field: 'text', message: 'a message needs `text`, `html` or both' });
  }
  checkBody(input.text, 'text', errors);
  checkBody(input.html, 'html', errors);

  const headers = input.headers ?? {};
  const headerNames = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    const field = `headers.${name}`;
    if (!HEADER_NAME.test(name)) {
      errors.push({
        field,
        message: 'is not a valid header name (printable ASCII, no space or colon)',
      });
    } else if (name.length > MAX_HEADER_NAME_LENGTH) {
      errors.push({
        field,
        message: `header names are at most ${MAX_HEADER_NAME_LENGTH} characters`,
      });
    } else if (isReservedHeader(name)) {
      errors.push({
        field,
        message:
          'is reserved (it is set by Tegami or the provider, or would change who gets the mail); use the message fields instead',
      });
    } else if (headerNames.has(name.toLowerCase())) {
      // Header names are case-insensitive: two spellings would be two headers of the same name.
      errors.push({ field, message: 'appears more than once (header names ignore letter case)' });
    }
    headerNames.add(name.toLowerCase());
    checkHeaderText(value, field, errors);
    const asciiOnly = ASCII_ONLY_HEADERS.get(name.toLowerCase());
    if (asciiOnly && !HEADER_ASCII.test(value)) {
      errors.push({
        field,
        message: `must be printable ASCII: this header ${asciiOnly}; non-ASCII text cannot be encoded in it`,
      });
    }
    // (A value over MAX_HEADER_VALUE_LENGTH is refused already, and is not scanned.)
    const writtenAsIs = asciiOnly !== undefined || isStructuredHeader(name);
    if (writtenAsIs && value.length <= MAX_HEADER_VALUE_LENGTH && LONGEST_TOKEN.test(value)) {
      errors.push({
        field,
        message: `has a run of more than ${MAX_HEADER_TOKEN_LENGTH} characters without a space: this header is written as it is and can be folded only at spaces, so the run would make a line longer than RFC 5322's 998 characters`,
      });
    }
  }

  const categories = input.categories ?? [];
  if (categories.length > MAX_CATEGORIES) {
    errors.push({ field: 'categories', message: `at most ${MAX_CATEGORIES} categories` });
  }
  if (new Set(categories).size !== categories.length) {
    errors.push({ field: 'categories', message: 'must not repeat a category' });
  }
  categories.forEach((category, i) => {
    const field = `categories[${i}]`;
    if (category.length === 0 || category.length > MAX_CATEGORY_LENGTH) {
      errors.push({ field, message: `must be 1 to ${MAX_CATEGORY_LENGTH} characters` });
    } else if (!PRINTABLE_ASCII.test(category)) {
      errors.push({
        field,
        message:
          'must be printable ASCII (space to ~); SendGrid refuses any other character in a category',
      });
    }
  });

  const metadata = input.metadata ?? {};
  const metadataBytes = Buffer.byteLength(JSON.stringify(metadata));
  if (metadataBytes > MAX_METADATA_BYTES) {
    errors.push({
      field: 'metadata',
      message: `is ${metadataBytes} bytes as JSON, at most ${MAX_METADATA_BYTES}: SendGrid takes 10,000 bytes of custom_args, which also carry tegami_message_id`,
    });
  }
  for (const [key, value] of Object.entries(metadata)) {
    const field = `metadata.${key}`;
    if (key.length === 0 || key.length > MAX_METADATA_KEY_LENGTH) {
      errors.push({ field, message: `keys must be 1 to ${MAX_METADATA_KEY_LENGTH} characters` });
    } else if (ANY_CONTROL_OR_LINE_BREAK.test(key)) {
      errors.push({
        field,
        message: 'keys must not contain line breaks (CR, LF, U+2028, U+2029) or control characters',
      });
    }
    if (value.includes('\u0000')) {
      // Metadata is stored as searchable text; no database stores U+0000 in text portably.
      errors.push({ field, message: 'must not contain NUL (\\u0000)' });
    }
    if (!isWellFormed(key) || !isWellFormed(value)) {
      errors.push({ field, message: UNPAIRED_SURROGATE_MESSAGE });
    }
  }

  const attachments = input.attachments ?? [];
  attachments.forEach((attachment, i) => {
    const field = `attachments[${i}]`;
    const { filename } = attachment;
    if (filename.trim() === '' || ANY_CONTROL_OR_LINE_BREAK.test(filename)) {
      errors.push({
        field: `${field}.filename`,
        message: 'must be non-empty, without line breaks or control characters',
      });
    } else if (BIDI_CONTROL.test(filename)) {
      errors.push({ field: `${field}.filename`, message: BIDI_CONTROL_MESSAGE });
    } else if (!isWellFormed(filename)) {
      errors.push({ field: `${field}.filename`, message: UNPAIRED_SURROGATE_MESSAGE });
    }
    if (attachment.content_type.length > MAX_CONTENT_TYPE_LENGTH) {
      errors.push({
        field: `${field}.content_type`,
        message: `must be at most ${MAX_CONTENT_TYPE_LENGTH} characters: a media type is one token, which a header line cannot fold`,
      });
    } else if (!MIME_TYPE.test(attachment.content_type)) {
      errors.push({ field: `${field}.content_type`, message: 'must be a MIME type like text/csv' });
    }
    if (attachment.content.length === 0 || !isStandardBase64(attachment.content)) {
      errors.push({ field: `${field}.content`, message: 'must be non-empty standard base64' });
    }
    const { disposition } = attachment;
    if (
      disposition !== undefined &&
      !(ATTACHMENT_DISPOSITIONS as readonly string[]).includes(disposition)
    ) {
      errors.push({ field: `${field}.disposition`, message: 'must be attachment or inline' });
    }
    const contentId = attachment.content_id;
    if (contentId !== undefined) {
      if (contentId.length === 0 || contentId.length > MAX_CONTENT_ID_LENGTH) {
        errors.push({
          field: `${field}.content_id`,
          message: `must be 1 to ${MAX_CONTENT_ID_LENGTH} characters: a content ID is one token of a header line, which cannot be folded`,
        });
      } else if (!CONTENT_ID.test(contentId)) {
        errors.push({
          field: `${field}.content_id`,
          message:
            'must be printable ASCII without spaces, line breaks or angle brackets: it is written as Content-ID: <content_id>',
        });
      }
    } else if (attachment.disposition === 'inline') {
      errors.push({
        field: `${field}.content_id`,
        message:
          'is required when disposition is inline: the HTML shows the file where it names cid:<content_id>',
      });
    }
  });
  checkSize(input, errors);

  let sendAt: number | null = null;
  if (input.send_at !== undefined) {
    const parsed =
      ISO_8601.test(input.send_at) && isCalendarTime(input.send_at)
        ? Date.parse(input.send_at)
        : Number.NaN;
    if (Number.isNaN(parsed)) {
      errors.push({
        field: 'send_at',
        message: 'must be an ISO 8601 time with a time zone, e.g. 2030-01-02T03:04:05Z',
      });
    } else if (parsed > now + MAX_SCHEDULE_AHEAD_MS) {
      errors.push({ field: 'send_at', message: 'must be at most 30 days ahead' });
    } else if (parsed > now) {
      sendAt = parsed;
    }
  }

  if (errors.length > 0) return errors;
  const content: MessageContent = {
    from: input.from,
    to,
    cc,
    bcc,
    subject: input.subject,
    headers,
    categories,
    metadata,
    attachments,
  };
  if (input.reply_to) content.reply_to = input.reply_to;
  if (input.text) content.text = input.text;
  if (input.html) content.html = input.html;
  return { content, sendAt, ...(input.priority ? { priority: input.priority } : {}) };
}
