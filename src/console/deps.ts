import type { Logger } from 'pino';
import type { AlertsService } from '../domain/alerts/service.ts';
import type { ConsoleAccounts } from '../domain/console-accounts.ts';
import type { OperationsService } from '../domain/operations/service.ts';
import type { ApiKeyStore } from '../domain/ports/api-key-store.ts';
import type { ConsoleTraffic } from '../domain/ports/console-traffic.ts';
import type { MessageEventReader } from '../domain/ports/delivery-event-store.ts';
import type { MessageStore } from '../domain/ports/message-store.ts';
import type { ProviderHealthStore } from '../domain/ports/provider-health-store.ts';
import type { StatusWebhookStore } from '../domain/ports/status-webhook-store.ts';
import type { SuppressionStore } from '../domain/ports/suppression-store.ts';
import type { MessageRecord } from '../domain/types.ts';

/** What the console works with; src/cli/wire.ts builds it from the same services as the API. */
export interface ConsoleDeps {
  accounts: ConsoleAccounts;
  operations: OperationsService;
  /** The built-in alerts, firing and past (src/domain/alerts/). */
  alerts: AlertsService;
  messages: MessageStore;
  /** Messages' delivery events: the newest of each recipient, or page by page. */
  messageEvents: MessageEventReader;
  suppressions: SuppressionStore;
  keys: ApiKeyStore;
  webhooks: StatusWebhookStore;
  /** Why a status webhook URL's destination is refused (private or loopback), or null. */
  checkDestination: (url: string) => Promise<string | null>;
  providers: { configured: string; health: ProviderHealthStore };
  /**
   * Delivery events can arrive (the Event Webhook is set up): without it a sent message never
   * gets one, and "no event yet" would promise what will not come.
   */
  eventsExpected: boolean;
  /** Per-minute counts of the last hour, for the overview's charts. */
  traffic: ConsoleTraffic;
  /** The message as MIME, as the provider would get it. */
  renderMime: (record: MessageRecord) => Promise<string>;
  /** Cookies carry `Secure` (on by default; off only for plain-HTTP development). */
  secureCookies: boolean;
  logger: Logger;
  clock?: () => number;
}
