import { newId } from '../ids.ts';
import type { NewMessage } from '../ports/message-store.ts';
import { type FieldError, validateMessage } from '../validate-message.ts';
import type { SendGridError } from './errors.ts';
import { renderPersonalization, unrenderableFeatures } from './render.ts';
import { forwardedContent, requestSendAt } from './request.ts';
import type { MailSendRequest } from './request-types.ts';

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
  if (accept.provider === 'sendgrid') {
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
  const refused = unrenderableFeatures(request, accept.provider);
  if (refused.length > 0) return { errors: refused };
  const messages: NewMessage[] = [];
  const errors: SendGridError[] = [];
  request.personalizations.forEach((_, index) => {
    const result = validateMessage(renderPersonalization(request, index), accept.now);
    if (Array.isArray(result)) {
      errors.push(...result.map((e) => asSendGridError(e, index)));
      return;
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
  });
  return errors.length > 0 ? { errors } : { messages };
}

/** Fields of the native form that come from the request, not from its personalization. */
const REQUEST_LEVEL: Record<string, string> = {
  text: 'content',
  html: 'content',
  attachments: 'attachments',
  categories: 'categories',
  reply_to: 'reply_to',
};

/** A native rule's error, named by the field of the SendGrid request it came from. */
function asSendGridError(error: FieldError, personalization: number): SendGridError {
  const path = error.field.replace(/\[(\d+)\]/g, '.$1');
  const head = path.split('.')[0] ?? path;
  let field: string;
  if (REQUEST_LEVEL[head]) field = path.replace(head, REQUEST_LEVEL[head]);
  else if (head === 'metadata') field = `personalizations.${personalization}.custom_args`;
  else field = `personalizations.${personalization}.${path}`;
  return { message: `${error.field} ${error.message}`, field, help: null };
}
