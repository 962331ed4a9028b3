import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { parse } from 'yaml';

/**
 * Validation of `POST /v3/mail/send` bodies as SendGrid does it: first the request schema from
 * SendGrid's own OpenAPI description (`spec/sendgrid/tsg_mail_v3.yaml`), then the rules SendGrid
 * applies beyond the schema, with SendGrid's messages, `field` paths and `help` links. Every
 * error found is returned, as SendGrid returns them all in one answer.
 */

/** One entry of SendGrid's `{"errors": [...]}`. */
export interface SendGridError {
  message: string;
  field: string | null;
  help: string | null;
}

export type MailSendValidator = (body: unknown, nowMs: number) => SendGridError[];

export const SPEC_PATH = new URL('../../spec/sendgrid/tsg_mail_v3.yaml', import.meta.url);

const HELP = 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html';

/** Header names SendGrid does not let a sender set (compared case-insensitively). */
export const RESERVED_HEADERS = new Set([
  'x-sg-id',
  'x-sg-eid',
  'received',
  'dkim-signature',
  'content-type',
  'content-transfer-encoding',
  'to',
  'from',
  'subject',
  'reply-to',
  'cc',
  'bcc',
]);

export const MAX_PERSONALIZATIONS = 1000;
export const MAX_RECIPIENTS = 1000;
export const MAX_CATEGORIES = 10;
export const MAX_CATEGORY_LENGTH = 255;
export const MAX_SCHEDULE_AHEAD_S = 72 * 3600;
/** Per personalization, its custom_args merged over the message's, measured as JSON. */
export const MAX_CUSTOM_ARGS_BYTES = 10_000;

const M = {
  personalizationsRequired:
    'The personalizations field is required and must have at least one personalization.',
  personalizationsTooMany: (n: number) =>
    `The personalization block is limited to ${MAX_PERSONALIZATIONS} personalizations per API request. You have provided ${n} personalizations. Please consider splitting this into multiple requests and resending your request.`,
  recipientsTooMany: `There is a limit of ${MAX_RECIPIENTS} total recipients (to + cc + bcc) per request.`,
  toRequired:
    'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
  recipientEmailRequired: (kind: string) => `The ${kind} email parameter is required.`,
  recipientListEmpty: (kind: string) =>
    `The ${kind} array, when used, must at least have an email parameter with a valid email address and it may also contain a name parameter. e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.`,
  duplicateRecipient: (email: string, where: string) =>
    `Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [${email}] in the ${where} field.`,
  invalidAddress: 'Does not contain a valid address.',
  fromRequired:
    'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.',
  fromInvalid: 'The from email does not contain a valid address.',
  subjectRequired:
    'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
  subjectEmpty: 'The subject of your email must be a string at least one character in length.',
  contentRequired:
    'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.',
  contentTypeEmpty: 'The content type must be a string at least one character in length.',
  contentValueEmpty: 'The content value must be a string at least one character in length.',
  contentOrder:
    'Following RFC 1341, section 7.2, if either text/html or text/plain are to be sent in your email: text/plain needs to be first, followed by text/html, followed by any other content.',
  categoriesTooMany: `Too many categories on this message, the maximum is ${MAX_CATEGORIES}`,
  categoryTooLong: (category: string) =>
    `Each category must not be longer than ${MAX_CATEGORY_LENGTH} characters. ${category} exceeds this limit.`,
  categoryDuplicate: (category: string) =>
    `The categories must be a unique list, and you have included ${category} more than once.`,
  categoryNonAscii: 'Categories can not contain non-ASCII characters.',
  headerReserved: 'Header can not be one of the reserved keys.',
  headerValues: 'The header values must be strings.',
  headerKeys: "Header keys can't contain non-ASCII characters and empty spaces.",
  customArgsStrings: 'All values of custom arguments object must be strings',
  customArgsEmpty: 'custom_args cannot be empty.',
  customArgsTooLarge:
    'The combined size of both global and personalization custom arguments may not exceed 10,000 bytes per personalization.',
  attachmentBase64: 'The attachment content must be base64 encoded.',
  attachmentContentEmpty:
    'The attachment content must be a string at least one character in length.',
  attachmentFilename: 'filename is required.',
  attachmentFilenameLineBreak: 'The filename of your attachment cannot contain CRLF characters.',
  attachmentType: "The type cannot contain ';', or CRLF characters.",
  replyToBoth:
    'You may use either the reply_to object or the reply_to_list array, but not both, in a single request.',
  sendAtInteger:
    'The send_at parameter is expecting a UNIX timestamp as an integer. We will send immediately if you include a send_at timestamp that is in the past.',
  sendAtTooFar: 'Scheduling more than 72 hours in advance is forbidden.',
};

/** Builds the validator: parses the spec and compiles its request schema once. */
export function createMailSendValidator(specText?: string): MailSendValidator {
  const validateSchema = compileSpecSchema(specText ?? readFileSync(SPEC_PATH, 'utf8'));
  return (body, nowMs) => {
    const custom = sendGridRules(body, nowMs);
    if (validateSchema(body)) return custom;
    const fromSchema = (validateSchema.errors ?? []).map(schemaError);
    // SendGrid reports one problem once: a rule's own message wins over the schema's words for
    // the same field, and (unless the rule is about a relation between parts, such as a
    // duplicate address) for the fields inside it or around it.
    const seen = new Set<string>();
    for (const error of fromSchema) {
      const field = error.field ?? '';
      const isCovered = custom.some((c) => {
        const at = c.field ?? '';
        if (at === field) return true;
        if (RELATIONAL.has(c)) return false;
        return field.startsWith(`${at}.`) || at.startsWith(`${field}.`);
      });
      if (isCovered) continue;
      const key = `${field}\u0000${error.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      custom.push(error);
    }
    return custom;
  };
}

/** The request body schema of `POST /v3/mail/send`, compiled with ajv (JSON Schema 2020-12). */
function compileSpecSchema(specText: string) {
  const spec = parse(specText);
  const operation = spec?.paths?.['/v3/mail/send']?.post;
  let requestBody = operation?.requestBody;
  const ref: unknown = requestBody?.$ref;
  if (typeof ref === 'string') requestBody = resolvePointer(spec, ref);
  const schema = requestBody?.content?.['application/json']?.schema;
  if (!schema || typeof schema !== 'object') {
    throw new Error('the SendGrid spec has no JSON request schema for POST /v3/mail/send');
  }
  // The spec types the message-level `custom_args` as a string; SendGrid takes (and its own
  // libraries send) an object of string values, like `personalizations[].custom_args`.
  if (schema.properties?.custom_args) {
    schema.properties.custom_args = { ...schema.properties.custom_args, type: 'object' };
  }
  // `$ref`s point into `#/components/...`; carrying the components along lets ajv resolve them.
  const root = { ...schema, components: spec.components };
  const ajv = new Ajv2020({ strict: false, allErrors: true, verbose: true });
  // ajv-formats is CommonJS; its plugin is the module's `default` export.
  ajvFormats.default(ajv);
  return ajv.compile(root);
}

function resolvePointer(document: unknown, ref: string): unknown {
  let node: unknown = document;
  for (const part of ref.replace(/^#\//, '').split('/')) {
    node = (node as Record<string, unknown> | undefined)?.[
      part.replace(/~1/g, '/').replace(/~0/g, '~')
    ];
  }
  return node;
}

function schemaError(error: ErrorObject): SendGridError {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = error.params as Record<string, unknown>;
  let message: string;
  switch (error.keyword) {
    case 'type':
      message = `Invalid type. Expected: ${String(params.type)}, given: ${jsonType(error.data)}.`;
      break;
    case 'required':
      path.push(String(params.missingProperty));
      message = `${String(params.missingProperty)} is required.`;
      break;
    case 'format':
      message =
        params.format === 'email' ? M.invalidAddress : `Does not match format ${params.format}.`;
      break;
    case 'minLength':
      message = `String length must be greater than or equal to ${params.limit}.`;
      break;
    case 'maxLength':
      message = `String length must be less than or equal to ${params.limit}.`;
      break;
    case 'minItems':
      message = `Array must have at least ${params.limit} items.`;
      break;
    case 'maxItems':
      message = `Array must have at most ${params.limit} items.`;
      break;
    case 'maxProperties':
      message = `Must have at most ${params.limit} properties.`;
      break;
    case 'uniqueItems':
      message = `Array items[${params.j},${params.i}] must be unique.`;
      break;
    case 'enum':
      message = `${path.at(-1) ?? '(root)'} must be one of the following: ${(
        params.allowedValues as unknown[]
      )
        .map((v) => JSON.stringify(v))
        .join(', ')}.`;
      break;
    default:
      message = error.message ?? 'Bad Request';
  }
  const field = path.length > 0 ? path.join('.') : null;
  return { message, field, help: field ? help(field) : null };
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** SendGrid's help link for a field: numeric indexes and a trailing `.email` dropped. */
function help(field: string): string {
  const anchor = field
    .split('.')
    .filter((p) => !/^\d+$/.test(p))
    .join('.')
    .replace(/\.email$/, '');
  return `${HELP}#message.${anchor}`;
}

function error(message: string, field: string, helpAnchor?: string): SendGridError {
  return { message, field, help: helpAnchor ? `${HELP}#${helpAnchor}` : help(field) };
}

/** Errors about a relation between parts; they do not hide schema errors inside those parts. */
const RELATIONAL = new WeakSet<SendGridError>();

function relational(e: SendGridError): SendGridError {
  RELATIONAL.add(e);
  return e;
}

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

/** The rules SendGrid applies beyond its published schema, in SendGrid's words. */
function sendGridRules(body: unknown, nowMs: number): SendGridError[] {
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
      checkCustomArgsSize(body.custom_args, p.custom_args, `${at}.custom_args`, errors);
      checkSendAt(p.send_at, `${at}.send_at`, nowMs, errors);
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
 * 10,000 bytes. It does not say how it counts; the simulator counts the merged object as JSON.
 */
function checkCustomArgsSize(
  messageArgs: unknown,
  personalizationArgs: unknown,
  at: string,
  errors: SendGridError[],
): void {
  const merged = {
    ...(isObject(messageArgs) ? messageArgs : {}),
    ...(isObject(personalizationArgs) ? personalizationArgs : {}),
  };
  if (Buffer.byteLength(JSON.stringify(merged)) > MAX_CUSTOM_ARGS_BYTES) {
    errors.push(error(M.customArgsTooLarge, at, customArgsAnchor(at)));
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
