/**
 * Glossary: these words mean the same thing in the code, the API, the docs and the console. The
 * full version, with the words to avoid and the public names that keep older words, is in
 * docs/architecture.md#glossary.
 *
 * - message:        one piece of mail an application handed to Tegami. It is durable from the
 *                   moment the API answers 202 and moves through the statuses in `MessageStatus`.
 * - recipient:      one to/cc/bcc address of a message, with its own status and delivery status
 *                   (providers report per address, not per message).
 * - unit:           the business unit a message, an API key or an endpoint belongs to.
 * - send:           to hand a message to a provider; never called "deliver".
 * - provider:       the service that sends mail (sandbox, SendGrid, ...), behind the narrow
 *                   `Provider` port: `send(message) -> SendResult`.
 * - attempt:        one call to a provider for one message, recorded whatever its outcome.
 * - delivery worker: the loop that claims due messages and sends them (src/delivery/).
 * - lease:          a worker's time-limited claim on a message. Its expiry is written when the
 *                   message is claimed, so a crashed worker's messages become claimable again.
 * - circuit:        a worker's view of a provider's health: healthy, or (open) unavailable,
 *                   throttled or paused, when it sends only probes.
 * - delivery event: a provider's report about one recipient of a message it accepted (SendGrid's
 *                   Event Webhook); folded into the recipient's delivery status.
 * - suppression:    an address we must not send to any more (domain/suppression.ts), one entry
 *                   per unit that suppressed it. A recipient whose address is suppressed (by any
 *                   unit's entry) is not sent to; its status is `suppressed`.
 * - status webhook: Tegami's notification to an application about a change, queued for one
 *                   endpoint; each HTTP request that carries it to the endpoint is a post.
 * - recovery:       a bulk retry or cancel of a fixed set of messages.
 * - priority:       `high`, `normal` or `bulk`: which due mail a worker claims first
 *                   (domain/priority.ts).
 */

import type { Priority } from './priority.ts';
import type { SendGridOrigin } from './sendgrid-compat/request-types.ts';

export const MESSAGE_STATUSES = [
  'queued', // waiting to be sent, due now or at `next_attempt_at` (a retry)
  'scheduled', // waiting for its `send_at` time
  'sending', // leased by a worker that is calling the provider
  'sent', // accepted by the provider
  'failed', // dead-lettered: permanent failure or attempts exhausted
  'cancelled', // cancelled by the application before it was sent
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** Statuses a worker may still claim (for `sending`, only once its lease has expired). */
export const CLAIMABLE_STATUSES: readonly MessageStatus[] = ['queued', 'scheduled', 'sending'];

export const RECIPIENT_STATUSES = ['pending', 'sent', 'failed', 'cancelled', 'suppressed'] as const;

/**
 * The error class of a message failed without an attempt because every recipient is suppressed.
 * A retry fails it again at once while the addresses stay on the suppression list.
 */
export const SUPPRESSED_ERROR_CLASS = 'suppressed';
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

/**
 * A recipient's status as reported, from the message's status and the recipient's stored one.
 * The stored status is the outcome of the message's last finished attempt (`sent`, `failed`,
 * `suppressed`); it is not rewritten when the message goes back in the queue or is cancelled, so
 * a recovery requeueing 100,000 dead letters touches the messages and not their recipients' pages
 * as well. While the message waits or is being sent again, every recipient is `pending`; once it
 * is cancelled, `cancelled`. The next finished attempt stores every recipient's status afresh.
 */
export function reportedRecipientStatus(
  message: MessageStatus,
  stored: RecipientStatus,
): RecipientStatus {
  if (CLAIMABLE_STATUSES.includes(message)) return 'pending';
  if (message === 'cancelled') return 'cancelled';
  return stored;
}

export type RecipientKind = 'to' | 'cc' | 'bcc';

export interface Address {
  email: string;
  name?: string;
}

/**
 * `attachment`: a file the reader opens. `inline`: shown in the body, where the HTML names its
 * `content_id` (`<img src="cid:logo">`).
 */
export const ATTACHMENT_DISPOSITIONS = ['attachment', 'inline'] as const;
export type AttachmentDisposition = (typeof ATTACHMENT_DISPOSITIONS)[number];

export interface Attachment {
  filename: string;
  /** base64 */
  content: string;
  content_type: string;
  /** The id of its Content-ID header (without `<>`), which `cid:` links in the HTML name. */
  content_id?: string;
  /** Absent: `attachment` (as for every attachment stored before inline ones existed). */
  disposition?: AttachmentDisposition;
}

/** What an application asks us to send, after validation. */
export interface MessageContent {
  from: Address;
  to: Address[];
  cc: Address[];
  bcc: Address[];
  reply_to?: Address;
  subject: string;
  text?: string;
  html?: string;
  headers: Record<string, string>;
  categories: string[];
  metadata: Record<string, string>;
  attachments: Attachment[];
  /** Set for mail that came in through `POST /v3/mail/send` (domain/sendgrid-compat/). */
  sendgrid?: SendGridOrigin;
}

export interface Recipient extends Address {
  kind: RecipientKind;
  status: RecipientStatus;
  /** From the provider's delivery events (see recipient-state.ts); null before the first. */
  deliveryStatus?: string | null;
  deliveryStatusAt?: number | null;
  /** Why the recipient was not sent to (status `suppressed`): the suppression's reason. */
  suppressedReason?: string | null;
}

/** A message handed to a provider: its content plus what a provider needs to correlate it. */
export interface OutboundMessage {
  id: string;
  /** 1 for the first attempt. */
  attempt: number;
  content: MessageContent;
}

/**
 * - accepted:  the provider took the message.
 * - retryable: it did not, and trying again may work.
 * - permanent: it did not, and trying the same message again cannot work (HTTP 400, 413).
 * - unknown:   the request was sent but no answer came (a timeout): the provider may have taken
 *              it. Retried like `retryable`, but kept apart so reconciliation with delivery events
 *              can avoid a double send.
 */
export type SendOutcome = 'accepted' | 'retryable' | 'permanent' | 'unknown';

/**
 * Why a failure is the provider's state rather than the message's fault. Such failures open the
 * provider's circuit and never use up the message's attempts.
 * - outage:       5xx, connection refused or reset, DNS failure, timeout.
 * - rate_limited: 429; the provider wants us to slow down.
 * - account:      401/403; a bad or revoked key, an unverified sender, a spent quota.
 */
export type ProviderFault = 'outage' | 'rate_limited' | 'account';

/** One entry of a provider's `errors[]` answer, as the provider wrote it. */
export interface ProviderError {
  message: string;
  field?: string | null;
  help?: string | null;
}

/** Rate-limit headers of a provider's answer, as sent. */
export interface RateLimitInfo {
  limit?: number;
  remaining?: number;
  /** Epoch seconds at which the window resets. */
  reset?: number;
}

/**
 * The longest wait a provider's answer can impose (Retry-After, a rate limit's reset time). Past
 * it the circuit probes again with one message: a wrong or absurd header (`Retry-After:
 * 100000000000000000000`, a reset time in the next century) cannot park mail for years, nor
 * produce a time no date can hold.
 */
export const MAX_REQUESTED_WAIT_MS = 60 * 60_000;

/** What a provider reports about one send; recorded as an attempt. */
export interface SendResult {
  outcome: SendOutcome;
  providerMessageId?: string;
  httpStatus?: number;
  /**
   * Provider asked us to wait at least this long before trying again; adapters keep it within
   * [0, MAX_REQUESTED_WAIT_MS].
   */
  retryAfterMs?: number;
  /** A short, stable name for the kind of failure: `http_503`, `timeout`, `ECONNRESET`, ... */
  errorClass?: string;
  /** Human-readable explanation, safe to show to operators. */
  detail?: string;
  /** Bounded excerpt of the provider's raw answer. */
  responseExcerpt?: string;
  /** Set when the failure is the provider's state, not the message's (see `ProviderFault`). */
  providerFault?: ProviderFault;
  /** The provider's own error list (SendGrid's `errors[]`). */
  providerErrors?: ProviderError[];
  rateLimit?: RateLimitInfo;
  /** Network-level error code (`ECONNRESET`, `ENOTFOUND`, `UND_ERR_HEADERS_TIMEOUT`, ...). */
  networkError?: string;
}

/**
 * What a provider said about our credentials before any mail was sent (SendGrid: the API key's
 * scopes), so a misconfiguration shows at start instead of when mail piles up.
 * - valid:      they work and allow sending.
 * - refused:    the provider refused them, or they do not allow sending: nothing can be sent.
 * - unverified: no answer that says either (unreachable, an outage); sends will tell.
 */
export const CREDENTIAL_RESULTS = ['valid', 'refused', 'unverified'] as const;
export interface CredentialCheck {
  result: (typeof CREDENTIAL_RESULTS)[number];
  /** Safe to show and log: never the credentials themselves. */
  detail: string;
}

export interface Attempt {
  number: number;
  provider: string;
  startedAt: number;
  durationMs: number;
  outcome: SendOutcome;
  httpStatus: number | null;
  providerMessageId: string | null;
  errorClass: string | null;
  detail: string | null;
  responseExcerpt: string | null;
  providerFault: ProviderFault | null;
  providerErrors: ProviderError[] | null;
  rateLimit: RateLimitInfo | null;
  networkError: string | null;
}

export interface MessageRecord {
  id: string;
  status: MessageStatus;
  unitId: string;
  /** The unit's name. */
  unit: string;
  priority: Priority;
  /** The last attempt's provider, error class, outcome and provider fault; null before one. */
  lastProvider: string | null;
  lastErrorClass: string | null;
  lastOutcome: string | null;
  lastProviderFault: string | null;
  /** When it was dead-lettered, if it ever was. */
  failedAt: number | null;
  content: MessageContent;
  recipients: Recipient[];
  sendAt: number | null;
  createdAt: number;
  updatedAt: number;
  attemptCount: number;
  nextAttemptAt: number | null;
  sentAt: number | null;
  lastError: string | null;
  attempts: Attempt[];
}

/** A message a worker has leased. */
export interface ClaimedMessage {
  id: string;
  /** The unit it belongs to (for logs and metrics). */
  unitId: string;
  priority: Priority;
  /** Number of this attempt, counted over the message's whole life. */
  attemptCount: number;
  /** Attempts since the message was accepted or last retried by hand: what the budget counts. */
  attemptsThisRound: number;
  leaseOwner: string;
  content: MessageContent;
  /** Recipients on the suppression list when it was claimed: not sent to. */
  suppressed: SuppressedRecipient[];
}

/** One delivery event a provider reported (SendGrid's Event Webhook), normalised. */
export interface DeliveryEvent {
  /** De-duplication key: `<provider>:<provider's event id>`. */
  key: string;
  provider: string;
  /** processed, deferred, delivered, bounce, dropped, open, click, spamreport, unsubscribe, ... */
  event: string;
  email: string;
  /** The event's own time (epoch ms). */
  occurredAt: number;
  /** Our message id, when the provider echoed it back (SendGrid: custom args). */
  messageId: string | null;
  /** The provider's id for the send (SendGrid: X-Message-Id), to match by when `messageId` is missing. */
  providerMessageId: string | null;
  /** bounce: `bounce` or `blocked`. */
  bounceType: string | null;
  /** Everything the provider sent, unknown fields included. */
  raw: Record<string, unknown>;
}

/** Why an address is on the suppression list (domain/suppression.ts). */
export const SUPPRESSION_REASONS = [
  'bounce',
  'blocked',
  'spamreport',
  'unsubscribe',
  'manual',
] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/** A suppressed recipient of a claimed message: its lower-cased address and why. */
export interface SuppressedRecipient {
  email: string;
  reason: SuppressionReason;
}
