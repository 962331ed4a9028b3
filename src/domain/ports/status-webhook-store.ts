import type { AuditEvent } from '../operations/audit-event.ts';

export interface WebhookEndpoint {
  id: string;
  url: string;
  events: string[];
  secret: string;
  createdAt: number;
  /** The unit whose events it receives (all units' when `allUnits`). */
  unitId: string;
  allUnits: boolean;
  /**
   * After a rotation with a window: until when the previous secret still signs every post
   * (alongside `secret`). Null when there is none; a past time means it no longer does.
   */
  previousSecretExpiresAt: number | null;
  /**
   * When it was deleted, or null while it is active. Nothing is posted to a deleted endpoint; its
   * log stays readable until retention removes it (`find` and `listDeleted` with `deleted`).
   */
  deletedAt: number | null;
}

/** An endpoint to add (`create`); the store gives it its id. */
export interface NewWebhookEndpoint {
  url: string;
  events: string[];
  secret: string;
  /** When it is added: its `createdAt`, and the time its audit event is recorded at. */
  now: number;
  /**
   * The unit whose events it receives. An endpoint of every unit (`allUnits`) still names one:
   * the admin key's own unit, or `default` when added from the console.
   */
  unitId: string;
  /** It receives every unit's events, not only `unitId`'s. */
  allUnits: boolean;
}

export interface WebhookDelivery {
  id: string;
  endpointId: string;
  eventType: string;
  /** The message it is about; null only when its body names none (written by hand). */
  messageId: string | null;
  status: string;
  attempts: number;
  nextAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  /**
   * When `lastError` was recorded: the failed post, or the endpoint's deletion. Null with no
   * error (a post answered `2xx` clears both), or for one recorded before the time was kept.
   */
  lastErrorAt: number | null;
  createdAt: number;
  deliveredAt: number | null;
  /**
   * When it was last queued again by hand (`redeliver`), or null if never: `attempts` counts the
   * posts since then, and `lastStatus`, `lastError` and `lastErrorAt` stay those of the post
   * before until the next one.
   */
  requeuedAt: number | null;
}

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/** A page of an endpoint's log: newest first, older than `beforeId` when given. */
export interface WebhookDeliveryQuery {
  limit: number;
  beforeId?: string;
  status?: WebhookDeliveryStatus;
  messageId?: string;
}

/** Where a page of deleted endpoints goes on from: the last one of the page before. */
export type DeletedEndpointCursor = Pick<WebhookEndpoint, 'id'> & { deletedAt: number };

/** A claimed status webhook with what the sender needs to post it. */
export interface DueWebhookDelivery {
  id: string;
  endpointId: string;
  payload: string;
  attempts: number;
  /** Start of its retry window. */
  retryFrom: number;
  /** Null when the endpoint was deleted meanwhile. */
  url: string | null;
  secret: string | null;
  /** A rotated-out secret still in force when the status webhook was claimed; else null. */
  previousSecret: string | null;
}

/** Status webhook endpoints (for the API) and the outbox of status webhooks (for the sender). */
export interface StatusWebhookStore {
  /**
   * Adds an endpoint, and `audit` of it in the same transaction: the endpoint and its event are
   * both written, or neither.
   */
  create(
    input: NewWebhookEndpoint,
    audit: (created: WebhookEndpoint) => AuditEvent,
  ): Promise<WebhookEndpoint>;
  /**
   * Active endpoints, newest first; with `unitId`, only that unit's (another unit's do not exist
   * for its keys). Every one, or a page: `limit` of them, older than `beforeId`.
   */
  list(unitId?: string, page?: { limit: number; beforeId?: string }): Promise<WebhookEndpoint[]>;
  /**
   * Deleted endpoints whose log still holds a status webhook (retention has not removed it all),
   * the most recently deleted first; with `unitId`, only that unit's own. `limit` of them, those
   * after `before` (a deleted endpoint) in that order when given.
   */
  listDeleted(
    page: { limit: number; before?: DeletedEndpointCursor },
    unitId?: string,
  ): Promise<WebhookEndpoint[]>;
  /**
   * An active endpoint; with `unitId`, only if it is that unit's own. With `deleted: true` a
   * deleted one too (`deletedAt` says so): its log is read, nothing is done with it.
   */
  find(
    id: string,
    unitId?: string,
    options?: { deleted?: boolean },
  ): Promise<WebhookEndpoint | null>;
  /**
   * Deletes an active endpoint (with `unitId`, only that unit's own): nothing more is posted to
   * it, and its pending status webhooks fail; `audit` of it is written in the same transaction.
   * False when there is no such endpoint (deleted already), and nothing is recorded.
   */
  disable(
    id: string,
    now: number,
    unitId: string | undefined,
    audit: (deleted: WebhookEndpoint) => AuditEvent,
  ): Promise<boolean>;
  /**
   * Gives an active endpoint (with `unitId`, only that unit's own) a new secret. The one it
   * replaces stays in force until `previousExpiresAt`, or stops at once when that is null; a
   * secret rotated out earlier stops at once either way; `audit` of it is written in the same
   * transaction. Null when there is no such endpoint, and nothing is recorded.
   */
  rotateSecret(
    id: string,
    change: { secret: string; previousExpiresAt: number | null },
    unitId: string | undefined,
    audit: (rotated: WebhookEndpoint) => AuditEvent,
  ): Promise<WebhookEndpoint | null>;
  /** The endpoint's log, newest first (keyset by id: entries queued meanwhile sort first). */
  deliveries(endpointId: string, query: WebhookDeliveryQuery): Promise<WebhookDelivery[]>;
  /**
   * The newest `limit` status webhooks of each endpoint, newest first, read together (a page of
   * endpoints): an endpoint with none has an empty list.
   */
  newestDeliveries(
    endpointIds: readonly string[],
    limit: number,
  ): Promise<Map<string, WebhookDelivery[]>>;
  /** The status webhooks about one message, to every endpoint: oldest first, at most `limit`. */
  messageDeliveries(messageId: string, limit: number): Promise<WebhookDelivery[]>;
  /**
   * How many of the endpoint's status webhooks are waiting to be posted, counted up to `upTo`
   * (a longer backlog is `upTo`), without reading them.
   */
  countPending(endpointId: string, upTo: number): Promise<number>;
  /**
   * Leases due status webhooks, sharing `slots` among endpoints, at most `perEndpoint` each
   * counting what is already being posted (`busy`).
   */
  claimDue(request: {
    slots: number;
    perEndpoint: number;
    busy: ReadonlyMap<string, number>;
    leaseMs: number;
    now: number;
  }): Promise<DueWebhookDelivery[]>;
  /**
   * Queues the endpoint's failed status webhooks again (those created at or after `since`, when
   * given), with `audit` of the request (given how many) in the same transaction, however many
   * there were. Answers how many, or null when the endpoint is deleted (nothing queued or
   * recorded).
   */
  redeliver(
    endpointId: string,
    since: number | null,
    now: number,
    audit: (requeued: number) => AuditEvent,
  ): Promise<number | null>;
  recordAttempt(
    id: string,
    result: {
      status: 'delivered' | 'failed' | 'pending';
      httpStatus: number | null;
      error: string | null;
      nextAttemptAt: number | null;
      now: number;
    },
  ): Promise<void>;
}
