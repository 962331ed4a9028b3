import { error, relational, type SendGridError } from './errors.ts';
import {
  M,
  MAX_CATEGORIES,
  MAX_CATEGORY_LENGTH,
  MAX_CUSTOM_ARGS_BYTES,
  MAX_PERSONALIZATIONS,
  MAX_RECIPIENTS,
  MAX_SCHEDULE_AHEAD_S,
  MAX_SUBSTITUTIONS_BYTES,
  RESERVED_HEADERS,
} from './messages.ts';

// biome-ignore lint/suspicious/noExplicitAny: request JSON, checked field by field below
function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// One character class under `*` is matched as a plain loop at any length. A repeated group such as
// `(?:[A-Za-z0-9+/]{4})*` keeps a backtracking entry per group and overflows V8's stack on a few MiB.
const BASE64_CHARACTERS = /^[A-Za-z0-9+/]*={0,2}$/;
const CR_OR_LF = /[\r\n]/;
const SEMICOLON_CR_OR_LF = /[;\r\n]/;
const LINE_BREAKS = /\r?\n/g;
const NON_ASCII = /[^\x20-\x7e]/;
const HEADER_KEY = /^[\x21-\x39\x3b-\x7e]+$/; // printable ASCII without space or ':'
const EMAIL =
  /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i;

/**
 * The rules SendGrid applies beyond its published schema, in SendGrid's words. `reservedArgBytes`
 * is what Tegami adds to every personalization's custom_args when it forwards the request
 * (`tegami_message_id`), so a request SendGrid would refuse after Tegami's 202 is refused here.
 */
export function sendGridRules(body: unknown, nowMs: number, reservedArgBytes = 0): SendGridError[] {
  const errors: SendGridError[] = [];
  if (!isObject(body)) return [{ message: 'Bad Request', field: null, help: null }];
  const hasTemplate = typeof body.template_id === 'string' && body.template_id.length > 0;

  // from
  const from = body.from;
  if (from === undefined || (isObject(from) && (from.email === undefined || from.email === ''))) {
    errors.push(error(M.fromRequired, 'from.email', 'message.from'));
  } else if (isObject(from) && typeof from.email === 'string' && !EMAIL.test(from.email)) {
    errors.push(error(M.fromInvalid, 'from.email', 'message.from'));
  }

  // personalizations
  const personalizations = body.personalizations;
  let everyHasSubject = false;
  if (!Array.isArray(personalizations) || personalizations.length === 0) {
    if (personalizations === undefined || Array.isArray(personalizations)) {
      errors.push(
        error(M.personalizationsRequired, 'personalizations', '-Personalizations-Errors'),
      );
    }
  } else if (personalizations.length > MAX_PERSONALIZATIONS) {
    errors.push(
      error(
        M.personalizationsTooMany(personalizations.length),
        'personalizations',
        '-Personalizations-Errors',
      ),
    );
  } else {
    everyHasSubject = true;
    let recipients = 0;
    personalizations.forEach((p: unknown, i: number) => {
      const at = `personalizations.${i}`;
      if (!isObject(p)) {
        everyHasSubject = false;
        return;
      }
      if (typeof p.subject !== 'string' || p.subject === '') everyHasSubject = false;
      if (p.subject === '') {
        errors.push(error(M.subjectEmpty, `${at}.subject`, 'message.personalizations.subject'));
      }
      if (!Array.isArray(p.to) || p.to.length === 0) {
        if (p.to === undefined || Array.isArray(p.to)) {
          errors.push(error(M.toRequired, `${at}.to`, 'message.personalizations.to'));
        }
      }
      const seen = new Map<string, string>();
      let duplicateReported = false;
      for (const kind of ['to', 'cc', 'bcc'] as const) {
        const list = p[kind];
        if (!Array.isArray(list)) continue;
        if (list.length === 0 && kind !== 'to') {
          errors.push(
            error(M.recipientListEmpty(kind), `${at}.${kind}`, `message.personalizations.${kind}`),
          );
        }
        recipients += list.length;
        list.forEach((r: unknown, j: number) => {
          if (!isObject(r)) return;
          if (r.email === undefined || r.email === '') {
            errors.push(
              error(
                M.recipientEmailRequired(kind),
                `${at}.${kind}.${j}.email`,
                `message.personalizations.${kind}`,
              ),
            );
            return;
          }
          if (typeof r.email !== 'string') return;
          const key = r.email.toLowerCase();
          if (seen.has(key) && !duplicateReported) {
            duplicateReported = true;
            errors.push(
              relational(
                error(
                  M.duplicateRecipient(r.email, `${at}.${kind}`),
                  at,
                  'message.personalizations',
                ),
              ),
            );
          }
          seen.set(key, kind);
        });
      }
      checkHeaders(p.headers, `${at}.headers`, errors);
      checkCustomArgs(p.custom_args, `${at}.custom_args`, errors);
      checkCustomArgsSize(
        body.custom_args,
        p.custom_args,
        `${at}.custom_args`,
        reservedArgBytes,
        errors,
      );
      checkSendAt(p.send_at, `${at}.send_at`, nowMs, errors);
      if (
        isObject(p.substitutions) &&
        Buffer.byteLength(JSON.stringify(p.substitutions)) > MAX_SUBSTITUTIONS_BYTES
      ) {
        errors.push(
          error(
            M.substitutionsTooLarge,
            `${at}.substitutions`,
            'message.personalizations.substitutions',
          ),
        );
      }
    });
    if (recipients > MAX_RECIPIENTS) {
      errors.push(
        relational(error(M.recipientsTooMany, 'personalizations', '-Personalizations-Errors')),
      );
    }
  }

  // subject
  if (body.subject === '') {
    errors.push(error(M.subjectEmpty, 'subject', 'message.subject'));
  } else if (body.subject === undefined && !hasTemplate && !everyHasSubject) {
    errors.push(error(M.subjectRequired, 'subject', 'message.subject'));
  }

  // content
  const content = body.content;
  if (content === undefined || (Array.isArray(content) && content.length === 0)) {
    if (!hasTemplate) errors.push(error(M.contentRequired, 'content', 'message.content'));
  } else if (Array.isArray(content)) {
    let plainAt = -1;
    let htmlAt = -1;
    content.forEach((c: unknown, i: number) => {
      if (!isObject(c)) return;
      if (c.type === undefined || c.type === '') {
        errors.push(error(M.contentTypeEmpty, `content.${i}.type`, 'message.content.type'));
      } else if (typeof c.type === 'string') {
        const type = c.type.trim().toLowerCase();
        if (type === 'text/plain' && plainAt < 0) plainAt = i;
        if (type === 'text/html' && htmlAt < 0) htmlAt = i;
      }
      if (c.value === undefined || c.value === '') {
        errors.push(error(M.contentValueEmpty, `content.${i}.value`, 'message.content.value'));
      }
    });
    const plainOk = plainAt <= 0;
    const htmlOk = htmlAt < 0 || htmlAt === (plainAt < 0 ? 0 : 1);
    if (!plainOk || !htmlOk) {
      errors.push(relational(error(M.contentOrder, 'content', 'message.content.value')));
    }
  }

  // categories
  const categories = body.categories;
  if (Array.isArray(categories)) {
    if (categories.length > MAX_CATEGORIES) {
      errors.push(error(M.categoriesTooMany, 'categories', 'message.categories'));
    } else {
      const seen = new Set<string>();
      categories.forEach((category: unknown, i: number) => {
        if (typeof category !== 'string') return;
        if (category.length > MAX_CATEGORY_LENGTH) {
          errors.push(error(M.categoryTooLong(category), `categories.${i}`, 'message.categories'));
        } else if (NON_ASCII.test(category)) {
          errors.push(error(M.categoryNonAscii, `categories.${i}`, 'message.categories'));
        } else if (seen.has(category)) {
          errors.push(
            relational(error(M.categoryDuplicate(category), 'categories', 'message.categories')),
          );
        }
        seen.add(category);
      });
    }
  }

  checkHeaders(body.headers, 'headers', errors);
  checkCustomArgs(body.custom_args, 'custom_args', errors);
  checkSendAt(body.send_at, 'send_at', nowMs, errors);

  // attachments
  if (Array.isArray(body.attachments)) {
    body.attachments.forEach((a: unknown, i: number) => {
      if (!isObject(a)) return;
      const at = `attachments.${i}`;
      if (a.content === undefined || a.content === '') {
        errors.push(
          error(M.attachmentContentEmpty, `${at}.content`, 'message.attachments.content'),
        );
      } else if (typeof a.content === 'string' && !isBase64(a.content)) {
        errors.push(error(M.attachmentBase64, `${at}.content`, 'message.attachments.content'));
      }
      if (a.filename === undefined || a.filename === '') {
        errors.push(error(M.attachmentFilename, `${at}.filename`, 'message.attachments.filename'));
      } else if (typeof a.filename === 'string' && CR_OR_LF.test(a.filename)) {
        errors.push(
          error(M.attachmentFilenameLineBreak, `${at}.filename`, 'message.attachments.filename'),
        );
      }
      if (typeof a.type === 'string' && SEMICOLON_CR_OR_LF.test(a.type)) {
        errors.push(error(M.attachmentType, `${at}.type`, 'message.attachments.type'));
      }
    });
  }

  if (body.reply_to !== undefined && body.reply_to_list !== undefined) {
    errors.push(relational(error(M.replyToBoth, 'reply_to_list', 'message.reply_to')));
  }
  return errors;
}

function isBase64(value: string): boolean {
  const compact = value.includes('\n') ? value.replace(LINE_BREAKS, '') : value;
  return compact.length % 4 === 0 && BASE64_CHARACTERS.test(compact);
}

function checkHeaders(headers: unknown, at: string, errors: SendGridError[]): void {
  if (!isObject(headers)) return;
  let reserved = false;
  let badValue = false;
  let badKey = false;
  for (const [name, value] of Object.entries(headers)) {
    if (RESERVED_HEADERS.has(name.toLowerCase())) reserved = true;
    if (!HEADER_KEY.test(name)) badKey = true;
    if (typeof value !== 'string') badValue = true;
  }
  const anchor = at.startsWith('personalizations') ? 'message.personalizations.headers' : undefined;
  if (reserved) errors.push(error(M.headerReserved, at, anchor ?? 'message.headers'));
  if (badKey) errors.push(error(M.headerKeys, at, anchor ?? 'message.headers'));
  if (badValue) errors.push(error(M.headerValues, at, anchor ?? 'message.headers'));
}

function customArgsAnchor(at: string): string {
  return at.startsWith('personalizations')
    ? 'message.personalizations.custom_args'
    : 'message.custom_args';
}

function checkCustomArgs(args: unknown, at: string, errors: SendGridError[]): void {
  if (!isObject(args)) return;
  if (Object.keys(args).length === 0) {
    errors.push(error(M.customArgsEmpty, at, customArgsAnchor(at)));
    return;
  }
  for (const value of Object.values(args)) {
    if (typeof value !== 'string') {
      errors.push(error(M.customArgsStrings, at, customArgsAnchor(at)));
      return;
    }
  }
}

/**
 * SendGrid merges a personalization's custom_args over the message's and refuses more than
 * 10,000 bytes. It does not say how it counts; the merged object is counted as JSON, as the
 * simulator does.
 */
function checkCustomArgsSize(
  messageArgs: unknown,
  personalizationArgs: unknown,
  at: string,
  reservedBytes: number,
  errors: SendGridError[],
): void {
  const merged = {
    ...(isObject(messageArgs) ? messageArgs : {}),
    ...(isObject(personalizationArgs) ? personalizationArgs : {}),
  };
  const bytes = Buffer.byteLength(JSON.stringify(merged));
  if (bytes > MAX_CUSTOM_ARGS_BYTES) {
    errors.push(error(M.customArgsTooLarge, at, customArgsAnchor(at)));
  } else if (bytes + reservedBytes > MAX_CUSTOM_ARGS_BYTES) {
    // Within SendGrid's limit, but not with the id Tegami adds: say so, not SendGrid's words.
    errors.push(
      error(
        M.customArgsTooLargeWithId(MAX_CUSTOM_ARGS_BYTES - reservedBytes),
        at,
        customArgsAnchor(at),
      ),
    );
  }
}

function checkSendAt(sendAt: unknown, at: string, nowMs: number, errors: SendGridError[]): void {
  if (sendAt === undefined) return;
  const anchor = at.startsWith('personalizations')
    ? 'message.personalizations.send_at'
    : 'message.send_at';
  if (typeof sendAt !== 'number' || !Number.isInteger(sendAt)) {
    errors.push(error(M.sendAtInteger, at, anchor));
  } else if (sendAt > nowMs / 1000 + MAX_SCHEDULE_AHEAD_S) {
    errors.push(error(M.sendAtTooFar, at, anchor));
  }
}
