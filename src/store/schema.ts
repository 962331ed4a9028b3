import type { ColumnType } from 'kysely';

/**
 * Table shapes as Kysely sees them. Portable by design so the same migrations run on SQLite and
 * PostgreSQL: every time is epoch milliseconds in a `bigint`, every JSON value is text, and ids are
 * text (ULIDs, so they sort by creation time). Provider-specific details live in `attempts`, never
 * in `messages`.
 */
export interface Database {
  api_keys: ApiKeyTable;
  messages: MessageTable;
  recipients: RecipientTable;
  message_categories: MessageCategoryTable;
  message_metadata: MessageMetadataTable;
  attempts: AttemptTable;
  idempotency_keys: IdempotencyKeyTable;
  sandbox_messages: SandboxMessageTable;
  provider_health: ProviderHealthTable;
  leader_leases: LeaderLeaseTable;
  delivery_events: DeliveryEventTable;
  suppressions: SuppressionTable;
  webhook_endpoints: WebhookEndpointTable;
  webhook_deliveries: WebhookDeliveryTable;
  units: UnitTable;
  recoveries: RecoveryTable;
  recovery_items: RecoveryItemTable;
  audit_events: AuditEventTable;
  provider_probe_requests: ProviderProbeRequestTable;
  search_index_state: SearchIndexStateTable;
  /** PostgreSQL only: each message's subject words (SQLite has the FTS5 table messages_fts). */
  messages_subject_index: MessageSubjectIndexTable;
  alerts: AlertTable;
  alert_notifications: AlertNotificationTable;
  unit_alert_settings: UnitAlertSettingsTable;
  sendgrid_event_relays: SendGridEventRelayTable;
  sendgrid_relay_events: SendGridRelayEventTable;
  console_users: ConsoleUserTable;
  console_sessions: ConsoleSessionTable;
  console_sign_in_failures: ConsoleSignInFailureTable;
  /** PostgreSQL: units' sending limits counted for the whole cluster (migration 025). */
  unit_rate_windows: UnitRateWindowTable;
}

export interface ApiKeyTable {
  id: string;
  name: string;
  /** First characters of the key, shown in listings so operators can tell keys apart. */
  key_prefix: string;
  /** SHA-256 of the whole key, hex. Keys are 256 random bits, so a fast hash is enough. */
  key_hash: string;
  created_at: number;
  revoked_at: number | null;
  /** The unit its mail goes into (and, unless `admin`, the only unit it sees). */
  unit_id: string;
  /** 1: sees and acts on every unit. */
  admin: number;
  /** `high`, `normal` or `bulk` for mail submitted without a priority; null: the unit's. */
  default_priority: string | null;
}

export interface MessageTable {
  id: string;
  api_key_id: string | null;
  status: string;
  from_email: string;
  subject: string;
  /** `MessageContent` as JSON. */
  content: string;
  send_at: number | null;
  created_at: number;
  updated_at: number;
  attempt_count: number;
  /**
   * `attempt_count` when an operator last retried the message by hand. Attempt numbers keep
   * counting up across manual retries; the retry budget counts from here.
   */
  attempts_before_retry: number;
  /**
   * When a worker may next claim this message: due time while queued or scheduled, lease expiry
   * while sending, null once final. One column makes "due work" a single range scan.
   */
  next_attempt_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  sent_at: number | null;
  last_error: string | null;
  unit_id: string;
  /** The last attempt's provider, error class, outcome and provider fault (see 009-operations). */
  last_provider: string | null;
  last_error_class: string | null;
  last_outcome: string | null;
  last_provider_fault: string | null;
  /** When it was dead-lettered (kept after a retry: it did dead-letter then). */
  failed_at: number | null;
  /** When the first delivery event for it arrived; null: none yet. */
  confirmed_at: number | null;
  /** PRIORITY_RANK (domain/priority.ts): 0 high, 1 normal, 2 bulk. */
  priority: number;
  /** The `X-Message-Id` answered to `POST /v3/mail/send` (024-x-message-id); null for /v1 mail. */
  x_message_id: string | null;
  /** The last retry recovery that requeued it; null: none did (see 022-recovery-outcome). */
  last_recovery_id: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface RecipientTable {
  message_id: string;
  position: number;
  kind: string;
  email: string;
  /** Lower-cased email, for "what happened to mail for this guest?" look-ups. */
  email_normalized: string;
  /** Lower-cased domain of the address, for look-ups by domain. */
  email_domain: ColumnType<string | null, string | null | undefined, string | null>;
  name: string | null;
  status: string;
  updated_at: number;
  /** The strongest delivery event so far (see domain/recipient-state.ts); null before any. */
  delivery_status: ColumnType<string | null, string | null | undefined, string | null>;
  delivery_status_at: ColumnType<number | null, number | null | undefined, number | null>;
  delivery_event_key: ColumnType<string | null, string | null | undefined, string | null>;
  /** Why this recipient was not sent to (a suppression reason); null when it was not suppressed. */
  suppressed_reason: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface MessageCategoryTable {
  message_id: string;
  category: string;
}

export interface MessageMetadataTable {
  message_id: string;
  key: string;
  value: string;
}

export interface AttemptTable {
  message_id: string;
  number: number;
  provider: string;
  started_at: number;
  duration_ms: number;
  outcome: string;
  http_status: number | null;
  provider_message_id: string | null;
  error_class: string | null;
  detail: string | null;
  response_excerpt: string | null;
  provider_fault: string | null;
  /** JSON array of the provider's `errors[]`. */
  provider_errors: string | null;
  /** JSON object of the answer's rate-limit headers. */
  rate_limit: string | null;
  network_error: string | null;
}

export interface IdempotencyKeyTable {
  api_key_id: string;
  key: string;
  request_hash: string;
  response_status: number;
  response_body: string;
  created_at: number;
}

export interface SandboxMessageTable {
  id: string;
  message_id: string;
  attempt: number;
  envelope_from: string;
  /** JSON array of addresses. */
  envelope_to: string;
  subject: string;
  /** The `OutboundMessage` as JSON; rendered to MIME when read (see sandbox-provider.ts). */
  message: string;
  created_at: number;
}

/** One worker's view of one provider's health, written when it changes and as a heartbeat. */
export interface ProviderHealthTable {
  provider: string;
  /** The worker's lease owner (`host/pt-<process table>/pid/random`, see lease-reaper.ts). */
  reporter: string;
  state: string;
  reason: string | null;
  since: number;
  next_check_at: number | null;
  /** JSON: counters and recent error classes. */
  details: string;
  updated_at: number;
}

/** Who runs the cluster-wide jobs named `name`, until when. */
export interface LeaderLeaseTable {
  name: string;
  holder: string;
  expires_at: number;
}

/** One delivery event as the provider reported it, matched to a message when possible. */
export interface DeliveryEventTable {
  event_key: string;
  provider: string;
  /** Null until matched (the attempt that names its provider message id may come later). */
  message_id: string | null;
  email_normalized: string;
  event: string;
  occurred_at: number;
  received_at: number;
  /** SendGrid's X-Message-Id: the `sg_message_id` before its first dot. */
  provider_message_id: string | null;
  /** The event as received, every field kept (JSON). */
  payload: string;
  /**
   * The delivery status the event sets for its recipient (`statusOfEvent`, migration 027): null
   * for engagement events, for events before 027 other than bounces (their status is their
   * event's), and for events an earlier release's process stored beside this one.
   */
  delivery_status: ColumnType<string | null, string | null | undefined, string | null>;
}

/** An address Tegami does not send to any more, and why (see domain/suppression.ts). */
export interface SuppressionTable {
  /**
   * Lower-cased address. The key is the address with the unit (migration 018): one entry per
   * unit, and one of no unit, per address.
   */
  email_normalized: string;
  /** The address as its event reported it, or as it was added. */
  email: string;
  /** bounce, blocked, spamreport, unsubscribe or manual. */
  reason: string;
  /** event (a provider's delivery event) or api. */
  source: string;
  /**
   * The delivery event that added it, the earliest of the entry's events (by their time, then
   * their key); null when added through the API.
   */
  event_key: string | null;
  /**
   * When that event occurred (migration 030): what a later-arriving event of the entry is
   * compared with. Null when added through the API, and for an entry an earlier release's
   * process recorded beside this one (read as latest).
   */
  event_occurred_at: ColumnType<number | null, number | null | undefined, number | null>;
  /** The provider's reason text, when there was one. */
  detail: string | null;
  created_at: number;
  /**
   * Whose entry it is (to see and remove): whose mail the event was about, or whose key added it;
   * null: an event not matched to a message, admin keys only.
   */
  unit_id: string | null;
}

export interface WebhookEndpointTable {
  id: string;
  url: string;
  /** JSON array of the event types it receives. */
  event_types: string;
  secret: string;
  created_at: number;
  disabled_at: number | null;
  /** The unit it belongs to; it receives that unit's events only, unless `all_units`. */
  unit_id: string;
  all_units: number;
  /** The secret a rotation replaced, still signing posts until `previous_secret_expires_at`. */
  previous_secret: string | null;
  previous_secret_expires_at: number | null;
}

export interface WebhookDeliveryTable {
  id: string;
  endpoint_id: string;
  event_type: string;
  /** The JSON body, exactly as posted. */
  payload: string;
  /**
   * The message it is about (the body's `data.message_id`), for the log's `message_id` filter
   * (026-webhook-delivery-message). Null only when a process of an earlier release queued it.
   */
  message_id: string | null;
  /** pending, delivered or failed */
  status: string;
  attempts: number;
  next_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  /**
   * When `last_error` was recorded (028-webhook-delivery-error-time); null with no error, or for
   * an error recorded before that migration.
   */
  last_error_at: number | null;
  created_at: number;
  /** Start of the retry window: `created_at`, or when it was last redelivered by hand. */
  retry_from: number;
  delivered_at: number | null;
}

/** A business unit (hotel, restaurant, ...): groups senders and the people who answer for them. */
export interface UnitTable {
  id: string;
  name: string;
  created_at: number;
}

/** A bulk retry or cancel over a fixed set of messages (recovery_items), worked in chunks. */
export interface RecoveryTable {
  id: string;
  /** The unit it is confined to; null: every unit (started with an admin key). */
  unit_id: string | null;
  action: string;
  /** The filter as given, JSON. */
  filter: string;
  rate_per_s: number | null;
  /** running, done, cancelled or failed */
  state: string;
  matched: number;
  done: number;
  skipped: number;
  /** JSON object: reason → count. */
  skipped_reasons: string;
  /** The last message id worked through. */
  cursor: string | null;
  /** JSON: who started it. */
  actor: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  error: string | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  /** 1: it marks the messages it requeues (messages.last_recovery_id), so it has an outcome. */
  outcome_tracked: ColumnType<number, number | undefined, number>;
}

export interface RecoveryItemTable {
  recovery_id: string;
  message_id: string;
  /**
   * pending (still to be worked through: a chunk deletes its range once it has acted), or
   * skipped when the recovery was cancelled or failed (kept until pruned). Databases from before
   * the delete also hold `done` rows.
   */
  state: string;
  reason: string | null;
}

/** One operator action: who, when, what, on what, with which filter and counts. */
export interface AuditEventTable {
  id: string;
  at: number;
  actor_type: string;
  actor_id: string;
  actor_name: string | null;
  unit_id: string | null;
  action: string;
  target: string | null;
  /** JSON */
  filter: string | null;
  /** JSON */
  counts: string | null;
}

export interface ProviderProbeRequestTable {
  provider: string;
  requested_at: number;
}

/** How far a background search index has got (SQLite's subject index: the last message id). */
export interface SearchIndexStateTable {
  name: string;
  indexed_through: string;
}

export interface MessageSubjectIndexTable {
  message_id: string;
  /** A tsvector, written and read in SQL only. */
  words: unknown;
}

/** One alert, from when it fired to when it resolved (ops/alerts/evaluator.ts). */
export interface AlertTable {
  id: string;
  key: string;
  rule: string;
  severity: string;
  /** firing or resolved */
  state: string;
  unit_id: string | null;
  provider: string | null;
  fault: string;
  summary: string;
  hint: string;
  /** JSON: AlertEvidence */
  evidence: string;
  started_at: number;
  ended_at: number | null;
  last_notified_at: number;
  updated_at: number;
}

/** A notification about an alert, queued until Slack or the alert webhook took it. */
export interface AlertNotificationTable {
  id: string;
  alert_id: string | null;
  kind: string;
  channel: string;
  unit_id: string | null;
  payload: string;
  state: string;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  sent_at: number | null;
}

/** A unit's own Slack channel and alert thresholds. */
export interface UnitAlertSettingsTable {
  unit_id: string;
  slack_webhook_url: string | null;
  /** JSON: { delay_s?, dead_letters?, unconfirmed?, muted? } */
  overrides: string;
  updated_at: number;
}

/** A unit's SendGrid Event Webhook URL and the ECDSA P-256 key pair its posts are signed with. */
export interface SendGridEventRelayTable {
  unit_id: string;
  url: string;
  /** Base64 DER (SubjectPublicKeyInfo), as SendGrid shows its verification key. */
  public_key: string;
  /** Base64 DER (PKCS #8). */
  private_key: string;
  created_at: number;
  updated_at: number;
}

/** A delivery event waiting to be relayed to its unit's SendGrid Event Webhook URL. */
export interface SendGridRelayEventTable {
  event_key: string;
  unit_id: string;
  x_message_id: string;
  /** pending, or failed; posted rows are deleted. */
  status: string;
  attempts: number;
  queued_at: number;
  next_attempt_at: number | null;
  last_http_status: number | null;
  last_error: string | null;
}

/** A console user (migration 013). */
export interface ConsoleUserTable {
  id: string;
  /** Lower-cased. */
  email: string;
  /** `scrypt$N$r$p$salt$hash` (domain/console-users.ts). */
  password_hash: string;
  role: string;
  /** JSON array of unit ids; null: every unit. */
  unit_ids: string | null;
  can_read_bodies: number;
  failed_sign_ins: number;
  locked_until: number | null;
  created_at: number;
  /** When it was disabled; null: enabled (migration 019). */
  disabled_at: number | null;
  /**
   * How many times every session of the user was ended at once (migration 020); a sign-in
   * inserts its session only while this is what it read before checking the password.
   */
  sign_outs: number;
}

/** Failed sign-ins of one user from one client address (migration 021). */
export interface ConsoleSignInFailureTable {
  user_id: string;
  /** The client's address as the API sees it (behind trusted proxies: the forwarded one). */
  client: string;
  /** Failures in a row from this address since the last lock (or the last stale count). */
  failures: number;
  locked_until: number | null;
  last_failed_at: number;
}

/** A console session (migration 013). */
export interface ConsoleSessionTable {
  /** SHA-256 of the cookie's token. */
  token_hash: string;
  user_id: string;
  csrf_token: string;
  unit_id: string | null;
  created_at: number;
  last_seen_at: number;
}

/** Messages a unit had accepted in one clock minute, by every API process (migration 025). */
export interface UnitRateWindowTable {
  unit_id: string;
  /** The minute's start, epoch milliseconds. */
  window_start: number;
  used: number;
  /** `used` before its last change: how much a statement added (src/store/units/rate-windows.ts). */
  used_before: number;
}
