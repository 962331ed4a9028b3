import type { Logger } from 'pino';
import type { Alert } from '../domain/alerts/lifecycle.ts';
import type { AlertsService } from '../domain/alerts/service.ts';
import type { OperationsService } from '../domain/operations/service.ts';
import type { ApiKeyRecord } from '../domain/ports/api-key-store.ts';
import type { MessageEventReader } from '../domain/ports/delivery-event-store.ts';
import type { MessageStore } from '../domain/ports/message-store.ts';
import type { ProviderHealthStore } from '../domain/ports/provider-health-store.ts';
import type { SandboxView } from '../domain/ports/sandbox-outbox.ts';
import type { SendGridEventRelayStore } from '../domain/ports/sendgrid-event-relay-store.ts';
import type { StatusWebhookStore } from '../domain/ports/status-webhook-store.ts';
import type { SuppressionStore } from '../domain/ports/suppression-store.ts';
import type { Telemetry } from '../domain/ports/telemetry.ts';
import type { UnitDefaultPriorities } from '../domain/priority.ts';
import type { UnitRateLimits } from '../domain/unit-rate-limit.ts';
import type { OutageLog } from '../ops/outage-log.ts';
import type { EventWebhookOptions } from './routes/event-webhook.ts';

/** One message: 10 MiB of JSON holds a message with ~7 MiB of attachments. */
export const MESSAGE_BODY_LIMIT = 10 * 1024 * 1024;
/** A batch of up to 1,000 messages. */
export const BATCH_BODY_LIMIT = 50 * 1024 * 1024;

/** A provider that accepted mail normally reports on it within minutes. */
export const DEFAULT_UNCONFIRMED_MS = 30 * 60_000;

/** What the HTTP API works with; src/cli/wire.ts builds it. */
export interface ApiDeps {
  messages: MessageStore;
  /** Looks up the active API key a request presents, by the key's SHA-256 hash. */
  findApiKey: (keyHash: string) => Promise<ApiKeyRecord | null>;
  /** The sandbox outbox; null hides `/v1/sandbox/messages` (for providers that keep none). */
  sandbox: SandboxView | null;
  readiness: () => Promise<{ ready: boolean; reason?: string }>;
  /**
   * True once a stop began draining (TEGAMI_SHUTDOWN_DRAIN_S): requests are still served,
   * but `/readyz` answers 503 and each answer closes its connection, so that a load balancer and
   * keep-alive clients move to other processes before this one closes its port.
   */
  draining?: () => boolean;
  /** Providers' delivery events (SendGrid's Event Webhook); none when no source is configured. */
  eventWebhooks?: EventWebhookOptions[];
  /** Sent this long ago with no delivery event: "unconfirmed" (default 30 minutes). */
  unconfirmedAfterMs?: number;
  /** Recipients (to + cc + bcc) of all messages of one batch together; TEGAMI_BATCH_MAX_RECIPIENTS. */
  batchMaxRecipients?: number;
  /** Messages' delivery events, for `GET /v1/messages/{id}` and `/v1/messages/{id}/events`. */
  messageEvents?: MessageEventReader;
  /** The suppression list for `/v1/suppressions`; optional for tests of other routes. */
  suppressions?: SuppressionStore;
  /** Status webhooks (`/v1/webhook-endpoints`); optional for tests of other routes. */
  webhookEndpoints?: WebhookEndpointsOptions;
  /** `/v1/sendgrid/event-relay`; optional for tests of other routes. */
  sendgridEventRelay?: SendGridEventRelayOptions;
  /** Provider health for `GET /v1/providers`; optional for tests of other routes. */
  providers?: ProviderView;
  /** Units, the unsent view, recoveries, the audit log (src/domain/operations/). */
  operations: OperationsService;
  /** Per-process counters (Prometheus metrics). */
  telemetry?: Telemetry;
  /** `GET /v1/alerts` and units' alert settings; optional for tests of other routes. */
  alerts?: AlertsService;
  /** `GET /metrics` (Prometheus) and `GET /status`; optional for tests of other routes. */
  monitoring?: MonitoringView;
  /** Units' sending limits (messages per minute, 429 over it); none: unlimited. */
  unitRateLimits?: UnitRateLimits;
  /** Units' default priorities, for mail that sets none and whose key has no default. */
  unitPriorities?: UnitDefaultPriorities;
  /** Called after messages were queued, so an in-process worker can start at once. */
  onAccepted?: () => void;
  logger: Logger;
  /**
   * Proxies in front of the API whose `X-Forwarded-For` names the client (addresses or CIDR
   * ranges, TEGAMI_TRUSTED_PROXIES); none: the client is the connection's peer.
   */
  trustedProxies?: string[];
  /** Logs database failures as state changes instead of one line per failed request. */
  outage?: OutageLog;
  clock?: () => number;
}

/** What `/v1/webhook-endpoints` works with. */
export interface WebhookEndpointsOptions {
  store: StatusWebhookStore;
  /**
   * Units: an admin may create an endpoint for one unit, and endpoints are shown with their
   * unit's name. The audit events are not written here but with each change, by the store.
   */
  operations?: OperationsService;
  /** Why a URL's destination is refused (private or loopback), or null. */
  checkDestination: (url: string) => Promise<string | null>;
  clock: () => number;
}

/** What `/v1/sendgrid/event-relay` works with. */
export interface SendGridEventRelayOptions {
  store: SendGridEventRelayStore;
  /** Units: an admin key may name one. */
  operations: OperationsService;
  /** Why a URL's destination is refused (private or loopback), or null. */
  checkDestination: (url: string) => Promise<string | null>;
  clock: () => number;
}

/** What `/v1/providers`, `/readyz` and the held reason of messages read provider health from. */
export interface ProviderView {
  /** The provider this deployment sends through. */
  configured: string;
  health: ProviderHealthStore;
  /** Sent messages with no delivery event yet (accepted, then silence). */
  countUnconfirmed?: (now: number) => Promise<number>;
}

/** What `/metrics`, `/status`, `/v1/alerts` and a unit's alert settings work with. */
export interface MonitoringView {
  /** The Prometheus exposition; null serves no `/metrics` on the API port. */
  metrics: (() => Promise<{ contentType: string; body: string }>) | null;
  /** TEGAMI_METRICS_TOKEN: `/metrics` asks for it as a bearer token when set. */
  metricsToken: string | null;
  /** Alerts firing now (for `/status`). */
  firing: () => Promise<Alert[]>;
}
