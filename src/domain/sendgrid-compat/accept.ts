import { newId } from '../ids.ts';
import type { NewMessage } from '../ports/message-store.ts';
import {
  type FieldError,
  MAX_CONTENT_TYPE_LENGTH,
  MAX_EMAIL_LENGTH,
  MAX_METADATA_KEY_LENGTH,
  type MessageInput,
  validateMessage,
} from '../validate-message.ts';
import { type SendGridError, sendGridField } from './errors.ts';
import {
  MAX_RENDERED_CHARACTERS,
  RenderedTooLarge,
  renderPersonalization,
  unrenderableFeatures,
} from './render.ts';
import { forwardedContent, requestSendAt } from './request.ts';
import type { MailSendRequest, SendGridAddress } from './request-types.ts';

/**
 * What `tegami_message_id` adds to each personalization's custom_args when the `sendgrid`
 * provider forwards a request: `,"tegami_message_id":"msg_<26-character ULID>"`, 53 bytes.
 */
export const FORWARDED_ID_ARG_BYTES = `,"tegami_message_id":"msg_${'0'.repeat(26)}"`.length;

export interface MailSendAcceptance {
  /** The provider this deployment sends through: `sendgrid` forwards, any other renders. */
  provider: string;
  xMessageId: string;
  apiKeyId: string | null;
  unitId?: string;
  now: number;
}

/**
 * The Tegami messages for one valid request (see request.ts for the mapping), or the errors that
 * refuse it: features the provider cannot apply, or Tegami's own rules for a rendered message.
 */
export function messagesForRequest(
  request: MailSendRequest,
  accept: MailSendAcceptance,
): { messages: NewMessage[] } | { errors: SendGridError[] } {
  const base = {
    apiKeyId: accept.apiKeyId,
    ...(accept.unitId ? { unitId: accept.unitId } : {}),
    createdAt: accept.now,
  };
  const unfoldable = unfoldableTokens(request);
  if (accept.provider === 'sendgrid') {
    const refused = [...unfoldable, ...unstorableForwarded(request)];
    if (refused.length > 0) return { errors: refused };
    return {
      messages: [
        {
          ...base,
          id: newId('msg'),
          content: forwardedContent(request, accept.xMessageId),
          sendAt: requestSendAt(request, accept.now),
        },
      ],
    };
  }
  const refused = [...unfoldable, ...unrenderableFeatures(request, accept.provider)];
  if (refused.length > 0) return { errors: refused };
  const messages: NewMessage[] = [];
  const errors: SendGridError[] = [];
  const reported = new Set<string>();
  const budget = { characters: MAX_RENDERED_CHARACTERS };
  for (const [index] of request.personalizations.entries()) {
    let rendered: MessageInput;
    try {
      rendered = renderPersonalization(request, index, accept.now, budget);
    } catch (error) {
      if (!(error instanceof RenderedTooLarge)) throw error;
      return { errors: [renderedTooLarge(request, accept.provider)] };
    }
    const result = validateMessage(rendered, accept.now);
    if (Array.isArray(result)) {
      for (const e of result.map((e) => asSendGridError(e, request, index))) {
        // What every personalization shares (a header of the request, its attachments) breaks
        // the rule in each of them: said once, as SendGrid names a field once.
        const said = `${e.field}\n${e.message}`;
        if (reported.has(said)) continue;
        reported.add(said);
        errors.push(e);
      }
      continue;
    }
    messages.push({
      ...base,
      id: newId('msg'),
      content: {
        ...result.content,
        sendgrid: { xMessageId: accept.xMessageId, personalization: index },
      },
      sendAt: result.sendAt,
    });
  }
  return errors.length > 0 ? { errors } : { messages };
}

function renderedTooLarge(request: MailSendRequest, provider: string): SendGridError {
  const mib = MAX_RENDERED_CHARACTERS / 1024 / 1024;
  return {
    message: `Rendered for the "${provider}" provider, one message per personalization (${request.personalizations.length} here), each with its own copy of the content and the attachments and its substitutions applied, this request makes more than ${mib} MiB of mail in all, which Tegami does not take in one request. Send fewer personalizations per request, or smaller content.`,
    field: 'personalizations',
    help: null,
  };
}

/**
 * Tegami's own limits on what it indexes of a forwarded request, which it does not render (and
 * so does not check with the native rules): every recipient's address (to, cc and bcc of each
 * personalization) and the request's custom_args keys (the message's metadata) are indexed for
 * searches, and PostgreSQL refuses an index entry over ~2.7 kB. The limits are the native ones.
 * The sender's address, the subject, categories, recipients and custom_args are stored as text,
 * which may not hold NUL on PostgreSQL: refused on every engine alike. What is only forwarded (the
 * sender's name, reply-to, a personalization's custom_args, the content) is SendGrid's to judge.
 */
function unstorableForwarded(request: MailSendRequest): SendGridError[] {
  const errors: SendGridError[] = [];
  const checkText = (text: string | undefined, field: string) => {
    if (text?.includes('\u0000')) {
      errors.push({
        message:
          'The value must not contain NUL (\\u0000): Tegami stores it as searchable text, which cannot hold NUL.',
        field,
        help: null,
      });
    }
  };
  const checkAddress = (address: SendGridAddress, field: string) => {
    checkText(address.email, field);
    checkText(address.name, field.replace(/email$/, 'name'));
    if (address.email.length > MAX_EMAIL_LENGTH) {
      errors.push({
        message: `The email address is longer than ${MAX_EMAIL_LENGTH} characters.`,
        field,
        help: null,
      });
    }
  };
  const checkArgs = (args: Record<string, string> | undefined, field: string) => {
    for (const [key, value] of Object.entries(args ?? {})) checkText(`${key}${value}`, field);
    if (Object.keys(args ?? {}).some((key) => key.length > MAX_METADATA_KEY_LENGTH)) {
      errors.push({
        message: `A custom_args key is longer than ${MAX_METADATA_KEY_LENGTH} characters: Tegami stores the request's custom_args as searchable metadata.`,
        field,
        help: null,
      });
    }
  };
  checkArgs(request.custom_args, 'custom_args');
  checkText(request.from.email, 'from.email');
  // The message's subject is the request's, else the first personalization's.
  checkText(
    request.subject ?? request.personalizations[0]?.subject,
    request.subject === undefined ? 'personalizations.0.subject' : 'subject',
  );
  for (const [i, category] of (request.categories ?? []).entries()) {
    checkText(category, `categories.${i}`);
  }
  request.personalizations.forEach((p, i) => {
    for (const kind of ['to', 'cc', 'bcc'] as const) {
      for (const [j, a] of (p[kind] ?? []).entries()) {
        checkAddress(a, `personalizations.${i}.${kind}.${j}.email`);
      }
    }
  });
  return errors;
}

/**
 * An attachment's `type` and `content_id` are each one token of a header line (Content-Type,
 * Content-ID), which cannot be folded: over MAX_CONTENT_TYPE_LENGTH (255) characters they are
 * refused whichever provider sends the mail, as the native API and SMTP refuse them; this is
 * the one error such a content_id gets, before any rendering. A filename has no such limit: it is
 * written in RFC 2231 continuations.
 */
function unfoldableTokens(request: MailSendRequest): SendGridError[] {
  const errors: SendGridError[] = [];
  (request.attachments ?? []).forEach((attachment, i) => {
    for (const [key, what] of [
      ['type', 'type'],
      ['content_id', 'content ID'],
    ] as const) {
      if ((attachment[key]?.length ?? 0) > MAX_CONTENT_TYPE_LENGTH) {
        errors.push({
          message: `The attachment's ${what} is longer than ${MAX_CONTENT_TYPE_LENGTH} characters: it is one token of a header line, which cannot be folded to keep the line within RFC 5322's 998 characters.`,
          field: `attachments.${i}.${key}`,
          help: null,
        });
      }
    }
  });
  return errors;
}

/** Fields of the native form that come from the request, not from its personalization. */
const REQUEST_LEVEL: Record<string, string> = {
  text: 'content',
  html: 'content',
  attachments: 'attachments',
  categories: 'categories',
};

/**
 * Where in the SendGrid request the value behind a native field came from: the personalization's
 * own field when it has one, else the request's, which every personalization shares (a header of
 * the request is the request's `headers.NAME`, not a `personalizations.3.headers.NAME` the
 * application never wrote).
 */
function requestField(path: string, request: MailSendRequest, index: number): string {
  const p = request.personalizations[index] ?? { to: [] };
  const own = (field: string) => `personalizations.${index}.${field}`;
  // A header's name may hold dots or brackets: it is all that follows `headers.`.
  if (path.startsWith('headers.')) {
    const name = path.slice('headers.'.length);
    return Object.hasOwn(p.headers ?? {}, name) ? own(path) : path;
  }
  const native = sendGridField(path);
  const head = native.split('.')[0] ?? native;
  const tail = native.slice(head.length);
  const fromRequest = REQUEST_LEVEL[head];
  if (fromRequest) return `${fromRequest}${tail}`;
  switch (head) {
    case 'reply_to':
      return request.reply_to ? native : `reply_to_list.0${tail}`;
    case 'from':
      return p.from ? own(native) : native;
    case 'subject':
      return p.subject !== undefined ? own(native) : native;
    case 'send_at':
      return p.send_at !== undefined ? own(native) : native;
    case 'metadata': {
      // The message's metadata is the request's custom_args with the personalization's over them.
      const key = native.slice('metadata.'.length);
      const requestOnly =
        tail === ''
          ? p.custom_args === undefined
          : !Object.hasOwn(p.custom_args ?? {}, key) &&
            Object.hasOwn(request.custom_args ?? {}, key);
      return requestOnly ? 'custom_args' : own('custom_args');
    }
    default:
      return own(native);
  }
}

/**
 * A native rule's error, named by the field of the SendGrid request it came from. Named as the
 * application sent it (`personalizations.0.custom_args`, not the native `metadata` it was rendered
 * into); native messages read as a predicate of their field.
 */
function asSendGridError(
  error: FieldError,
  request: MailSendRequest,
  personalization: number,
): SendGridError {
  // An attachment's type is `content_type` in the native form.
  const path = error.field.replace(/^(attachments\[\d+\])\.content_type$/, '$1.type');
  const field = requestField(path, request, personalization);
  return { message: `${field} ${error.message}`, field, help: null };
}
