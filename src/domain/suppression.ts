import { requestWithout } from './sendgrid-compat/request.ts';
import type {
  Address,
  DeliveryEvent,
  MessageContent,
  SuppressedRecipient,
  SuppressionReason,
} from './types.ts';

export { SUPPRESSION_REASONS, type SuppressedRecipient, type SuppressionReason } from './types.ts';

/**
 * The suppression list: addresses Tegami no longer sends to. An address gets on it from a
 * provider's event (hard bounce, spam report, unsubscribe, and optionally a block) or by hand
 * through the API. The first reason recorded for an address wins.
 */
export type SuppressionSource = 'event' | 'api';

export interface Suppression {
  email: string;
  reason: SuppressionReason;
  source: SuppressionSource;
  /** The delivery event that caused it (`sendgrid:<sg_event_id>`); null when added by hand. */
  eventKey: string | null;
  /** The provider's reason text, when the event had one. */
  detail: string | null;
  createdAt: number;
  /**
   * The unit that sees the entry: whose mail the event was about, or whose key added it; null
   * (admin keys only) while the event is not matched to a message. The suppression itself holds
   * for every unit's mail: a bouncing address bounces for everyone.
   */
  unitId: string | null;
}

/** Every recipient of a message (to, cc, bcc), lower-cased as the suppression list keeps them. */
export function recipientAddresses(content: MessageContent): string[] {
  return [...content.to, ...content.cc, ...content.bcc].map((a) => a.email.toLowerCase());
}

/**
 * The suppression reason a delivery event gives its address, or null if it gives none. Blocks
 * (`bounce` with type `blocked`) are often a passing reputation problem: only with
 * `suppressBlocks`. A bounce without a type is a hard bounce, as for the delivery status.
 */
export function suppressionReasonOf(
  event: Pick<DeliveryEvent, 'event' | 'bounceType'>,
  suppressBlocks: boolean,
): SuppressionReason | null {
  switch (event.event) {
    case 'bounce':
      if (event.bounceType === 'blocked') return suppressBlocks ? 'blocked' : null;
      return 'bounce';
    case 'spamreport':
      return 'spamreport';
    case 'unsubscribe':
    case 'group_unsubscribe':
      return 'unsubscribe';
    default:
      return null;
  }
}

/** `guest@example.com (bounce), other@example.com (spamreport)` */
export function describeSuppressed(suppressed: SuppressedRecipient[]): string {
  return suppressed.map((s) => `${s.email} (${s.reason})`).join(', ');
}

/**
 * What is left to send once suppressed addresses are taken out: null when nothing is left.
 * A provider needs at least one `to`: when every `to` is suppressed the remaining `cc` become
 * the `to` (they were visible to everyone anyway). Bcc recipients are never moved into a visible
 * header, so a message whose only remaining recipients are bcc is not sent either.
 */
export function withoutSuppressed(
  content: MessageContent,
  suppressed: SuppressedRecipient[],
): MessageContent | null {
  if (suppressed.length === 0) return content;
  const gone = new Set(suppressed.map((s) => s.email));
  // A SendGrid request forwarded as sent: the same rule, personalization by personalization.
  const origin = content.sendgrid;
  if (origin?.request) {
    const left = requestWithout(origin.request, gone);
    return left ? { ...content, sendgrid: { ...origin, request: left } } : null;
  }
  const keep = (list: Address[]) => list.filter((a) => !gone.has(a.email.toLowerCase()));
  const to = keep(content.to);
  const cc = keep(content.cc);
  const bcc = keep(content.bcc);
  if (to.length > 0) return { ...content, to, cc, bcc };
  if (cc.length > 0) return { ...content, to: cc, cc: [], bcc };
  return null;
}
