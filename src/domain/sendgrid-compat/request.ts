import { randomBytes } from 'node:crypto';
import type { Address, MessageContent, RecipientKind } from '../types.ts';
import type {
  MailSendRequest,
  SendGridAddress,
  SendGridContent,
  SendGridPersonalization,
} from './request-types.ts';

/**
 * A SendGrid v3 `POST /v3/mail/send` request as Tegami takes it in (`POST /v3/mail/send` on the
 * API port), after it passed SendGrid's schema and rules (rules.ts). Only the fields Tegami reads
 * are typed; everything else is kept and forwarded as the application sent it.
 *
 * How one request becomes Tegami messages (docs/sendgrid-compatibility.md):
 * - with the `sendgrid` provider, one message per request. It keeps the request and the provider
 *   forwards it as it came, with `tegami_message_id` added to every personalization's
 *   custom_args; its recipients are the to, cc and bcc of every personalization, so each one is
 *   tracked, suppressed and shown as for native mail.
 * - with any other provider, one message per personalization, rendered by Tegami (subject,
 *   headers, custom_args and substitutions of the personalization over the request's).
 * Either way every message carries the X-Message-Id the application was answered with.
 */

/**
 * SendGrid's X-Message-Id: 22 characters of URL-safe base64, that is 16 random bytes. Delivery
 * events carry it as the start of `sg_message_id`, so applications match events by it.
 */
export function newXMessageId(): string {
  return randomBytes(16).toString('base64url');
}

/** `sandbox_mode` validates the request and sends nothing: SendGrid answers 200. */
export function isSandboxMode(request: MailSendRequest): boolean {
  return request.mail_settings?.sandbox_mode?.enable === true;
}

function address({ email, name }: SendGridAddress): Address {
  return name ? { email, name } : { email };
}

/**
 * The due time of a request (epoch ms), or null to send at once: the earliest `send_at` of the
 * request or its personalizations, when it is in the future. SendGrid holds each personalization
 * until its own `send_at` (the forwarded request keeps them); Tegami hands it over at the first.
 */
export function requestSendAt(request: MailSendRequest, now: number): number | null {
  const times = [request.send_at, ...request.personalizations.map((p) => p.send_at)]
    .filter((t): t is number => typeof t === 'number')
    .map((seconds) => seconds * 1000);
  // A personalization without its own send_at goes at the request's (or at once).
  if (
    request.send_at === undefined &&
    request.personalizations.some((p) => p.send_at === undefined)
  ) {
    return null;
  }
  const first = Math.min(...times);
  return first > now ? first : null;
}

/** The text/plain and text/html of `content`, for showing the message and searching it. */
function textParts(content: SendGridContent[] | undefined): { text?: string; html?: string } {
  const parts: { text?: string; html?: string } = {};
  for (const part of content ?? []) {
    const type = part.type.trim().toLowerCase();
    if (type === 'text/plain' && parts.text === undefined) parts.text = part.value;
    if (type === 'text/html' && parts.html === undefined) parts.html = part.value;
  }
  return parts;
}

/**
 * The message for a request the `sendgrid` provider will forward. Its recipients are every to,
 * cc and bcc of every personalization, in order (one address may appear in two personalizations:
 * it gets two mails, and its delivery events fold onto both rows). Attachments stay in the
 * request only, so a 30 MB request is not stored twice.
 */
export function forwardedContent(request: MailSendRequest, xMessageId: string): MessageContent {
  const lists: Record<RecipientKind, Address[]> = { to: [], cc: [], bcc: [] };
  for (const p of request.personalizations) {
    for (const kind of ['to', 'cc', 'bcc'] as const) {
      for (const a of p[kind] ?? []) lists[kind].push(address(a));
    }
  }
  const first = request.personalizations[0];
  const content: MessageContent = {
    from: address(request.from),
    ...lists,
    subject: request.subject ?? first?.subject ?? '',
    ...textParts(request.content),
    headers: { ...(request.headers ?? {}) },
    categories: [...(request.categories ?? [])],
    metadata: { ...(request.custom_args ?? {}) },
    attachments: [],
    sendgrid: { xMessageId, request },
  };
  const replyTo = request.reply_to ?? request.reply_to_list?.[0];
  if (replyTo) content.reply_to = address(replyTo);
  return content;
}

/**
 * The request to forward once suppressed addresses are taken out, by the rule of
 * `withoutSuppressed` applied to each personalization: when every `to` is gone its `cc` become
 * the `to`; a personalization left with bcc only, or nobody, is dropped. Null when none is left.
 */
export function requestWithout(
  request: MailSendRequest,
  gone: ReadonlySet<string>,
): MailSendRequest | null {
  const keep = (list: SendGridAddress[] | undefined) =>
    (list ?? []).filter((a) => !gone.has(a.email.toLowerCase()));
  const personalizations: SendGridPersonalization[] = [];
  for (const p of request.personalizations) {
    const to = keep(p.to);
    const cc = keep(p.cc);
    const bcc = keep(p.bcc);
    const next: SendGridPersonalization = { ...p, to: to.length > 0 ? to : cc };
    delete next.cc;
    delete next.bcc;
    if (next.to.length === 0) continue;
    if (to.length > 0 && cc.length > 0) next.cc = cc;
    if (bcc.length > 0) next.bcc = bcc;
    personalizations.push(next);
  }
  return personalizations.length > 0 ? { ...request, personalizations } : null;
}
