import type { Attachment, AttachmentDisposition } from '../types.ts';
import type { MessageInput } from '../validate-message.ts';
import type { SendGridError } from './errors.ts';
import type { MailSendRequest, SendGridAddress, SendGridPersonalization } from './request-types.ts';

/**
 * Requests for providers other than `sendgrid`: Tegami renders each personalization into a
 * message of its own. What only SendGrid can do (templates, its tracking, unsubscribe groups,
 * IP pools) is refused with a 400 naming the feature, never dropped silently.
 */

/** Top-level fields Tegami renders itself; any other field is SendGrid's alone. */
const RENDERED_FIELDS = new Set([
  'personalizations',
  'from',
  'reply_to',
  'reply_to_list',
  'subject',
  'content',
  'attachments',
  'headers',
  'categories',
  'custom_args',
  'send_at',
  'mail_settings',
  'tracking_settings',
]);

const FEATURE_NAMES: Record<string, string> = {
  template_id: 'Templates (template_id)',
  asm: 'Unsubscribe groups (asm)',
  ip_pool_name: 'IP pools (ip_pool_name)',
  batch_id: 'Batches (batch_id)',
  // Legacy templates' sections: SendGrid applies them, though its spec does not describe them.
  sections: 'Sections (sections)',
};

function refusal(field: string, feature: string, provider: string): SendGridError {
  return {
    message: `${feature}: only SendGrid can render or apply this; this Tegami sends through the "${provider}" provider, which cannot. Leave the field out, or send through the sendgrid provider.`,
    field,
    help: null,
  };
}

/**
 * A field SendGrid's spec does not name, often a misspelling (`subjet`, `attachements`): Tegami,
 * rendering the mail itself, cannot know what it asks for. Saying "only SendGrid can apply this"
 * of a misspelling sent the application looking for a feature.
 */
function unknownField(field: string, provider: string): SendGridError {
  const name = field.split('.').at(-1) ?? field;
  return {
    message: `The field "${name}" is not in SendGrid's mail/send spec: this Tegami renders the mail itself for the "${provider}" provider and does not know what the field asks for. Check its spelling, or leave it out (the sendgrid provider forwards it as sent).`,
    field,
    help: null,
  };
}

/** What in a valid request Tegami cannot render for `provider`: one error per feature. */
export function unrenderableFeatures(request: MailSendRequest, provider: string): SendGridError[] {
  const errors: SendGridError[] = [];
  for (const field of Object.keys(request)) {
    if (RENDERED_FIELDS.has(field)) continue;
    const feature = FEATURE_NAMES[field];
    errors.push(feature ? refusal(field, feature, provider) : unknownField(field, provider));
  }
  for (const group of ['mail_settings', 'tracking_settings'] as const) {
    for (const [name, setting] of Object.entries(request[group] ?? {})) {
      if (group === 'mail_settings' && name === 'sandbox_mode') continue;
      if (setting?.enable === true) {
        errors.push(refusal(`${group}.${name}`, `The setting ${group}.${name}`, provider));
      }
    }
  }
  (request.content ?? []).forEach((part, i) => {
    const type = part.type.trim().toLowerCase();
    if (type !== 'text/plain' && type !== 'text/html') {
      errors.push(refusal(`content.${i}.type`, `Content of type ${part.type}`, provider));
    }
  });
  if ((request.reply_to_list?.length ?? 0) > 1) {
    errors.push(refusal('reply_to_list', 'Several reply-to addresses', provider));
  }
  request.personalizations.forEach((p, i) => {
    for (const field of Object.keys(p)) {
      if (PERSONALIZATION_FIELDS.has(field)) continue;
      errors.push(unknownField(`personalizations.${i}.${field}`, provider));
    }
  });
  return errors;
}

const PERSONALIZATION_FIELDS = new Set([
  'to',
  'cc',
  'bcc',
  'from',
  'subject',
  'headers',
  'substitutions',
  // Used by dynamic templates only; SendGrid ignores it without a template_id, and so does
  // Tegami (a template_id itself is refused above).
  'dynamic_template_data',
  'custom_args',
  'send_at',
]);

/**
 * Thrown when a request would render into more text than MAX_RENDERED_CHARACTERS: one request of
 * up to 1,000 personalizations becomes that many messages, each with its own copy of the content
 * and the attachments, and a substitution may make the content larger still.
 */
export class RenderedTooLarge extends Error {}

/**
 * What one request may render into, over all its messages: content after substitution, subjects,
 * headers and attachments, in characters. As much as a batch of native messages may carry
 * (`POST /v1/messages/batch` takes 50 MiB); beyond it a request held the API's event loop for
 * tens of seconds and took gigabytes of memory.
 */
export const MAX_RENDERED_CHARACTERS = 50 * 1024 * 1024;

/** What is left of a request's MAX_RENDERED_CHARACTERS while its personalizations render. */
export interface RenderBudget {
  characters: number;
}

function spend(budget: RenderBudget | undefined, characters: number): void {
  if (budget === undefined) return;
  budget.characters -= characters;
  if (budget.characters < 0) throw new RenderedTooLarge();
}

/**
 * Replaces every substitution key by its value in one pass, longest key first, so a value is
 * never substituted again and `-name-` does not break `-name-full-`. Keys are literal: the
 * official clients wrap them (`{{name}}`) before sending. With a budget, the result is counted
 * against it as it grows, so a substitution that would make a text too large stops early.
 */
export function substitute(
  text: string,
  substitutions: Record<string, string>,
  budget?: RenderBudget,
): string {
  const keys = Object.keys(substitutions)
    .filter((k) => k.length > 0)
    .sort((a, b) => b.length - a.length);
  if (keys.length === 0) {
    spend(budget, text.length);
    return text;
  }
  const limit = budget?.characters ?? Number.POSITIVE_INFINITY;
  let length = text.length;
  if (length > limit) throw new RenderedTooLarge();
  const pattern = new RegExp(
    keys.map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'),
    'g',
  );
  const result = text.replace(pattern, (key) => {
    const value = substitutions[key] ?? key;
    length += value.length - key.length;
    if (length > limit) throw new RenderedTooLarge();
    return value;
  });
  spend(budget, result.length);
  return result;
}

function address({ email, name }: SendGridAddress): { email: string; name?: string } {
  return name ? { email, name } : { email };
}

/**
 * Personalization `index` of a request as a native message, substitutions applied; what it
 * renders into is taken from `budget` (RenderedTooLarge once that is spent).
 */
export function renderPersonalization(
  request: MailSendRequest,
  index: number,
  now: number,
  budget?: RenderBudget,
): MessageInput {
  const p = request.personalizations[index] as SendGridPersonalization;
  const subs = p.substitutions ?? {};
  const headers = Object.fromEntries(
    Object.entries({ ...(request.headers ?? {}), ...(p.headers ?? {}) }).map(([name, value]) => [
      name,
      substitute(value, subs, budget),
    ]),
  );
  const input: MessageInput = {
    from: address(p.from ?? request.from),
    to: p.to.map(address),
    subject: substitute(p.subject ?? request.subject ?? '', subs, budget),
    headers,
    metadata: { ...(request.custom_args ?? {}), ...(p.custom_args ?? {}) },
  };
  if (p.cc) input.cc = p.cc.map(address);
  if (p.bcc) input.bcc = p.bcc.map(address);
  // SendGrid substitutes in the subject, the reply-to and the content (the spec's words).
  const replyTo = request.reply_to ?? request.reply_to_list?.[0];
  if (replyTo) {
    input.reply_to = address({
      email: substitute(replyTo.email, subs, budget),
      ...(replyTo.name ? { name: substitute(replyTo.name, subs, budget) } : {}),
    });
  }
  for (const part of request.content ?? []) {
    const type = part.type.trim().toLowerCase();
    if (type === 'text/plain' && input.text === undefined)
      input.text = substitute(part.value, subs, budget);
    if (type === 'text/html' && input.html === undefined)
      input.html = substitute(part.value, subs, budget);
  }
  if (request.categories) input.categories = [...request.categories];
  if (request.attachments) {
    input.attachments = request.attachments.map((a) => {
      // Each message stores its own copy.
      spend(budget, a.content.length);
      const attachment: Attachment = {
        filename: a.filename,
        // SendGrid takes base64 with line breaks; the native form is one line.
        content: a.content.replace(/\r?\n/g, ''),
        content_type: a.type ?? 'application/octet-stream',
      };
      // The same names in both forms; the spec's schema allows only attachment and inline.
      if (a.content_id !== undefined) attachment.content_id = a.content_id;
      if (a.disposition !== undefined) {
        attachment.disposition = a.disposition as AttachmentDisposition;
      }
      return attachment;
    });
  }
  // SendGrid sends at once when send_at is in the past, however far (the rules bound only the
  // future): such a message is due now. A time before the year -271821 is no Date at all.
  const sendAt = p.send_at ?? request.send_at;
  if (sendAt !== undefined && sendAt * 1000 > now) {
    input.send_at = new Date(sendAt * 1000).toISOString();
  }
  return input;
}
