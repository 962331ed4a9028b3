import type { Socket } from 'node:net';
import type { EventWebhookEmitter } from './event-webhook/emitter.ts';
import type { LiveFaults } from './faults/live.ts';
import type { MailSendValidator } from './mail-send/validate.ts';
import type { MessageLog } from './message-log.ts';

/** What the routes of one running simulator share. */
export interface SimulatorContext {
  /** Epoch ms. */
  readonly clock: () => number;
  /** The random source of the fault decisions. */
  readonly random: () => number;
  /** Only `Authorization: Bearer <apiKey>` is accepted; null = any non-empty bearer token. */
  apiKey: string | null;
  readonly faults: LiveFaults;
  readonly log: MessageLog;
  readonly events: EventWebhookEmitter;
  readonly validateMailSend: MailSendValidator;
  /** Connections a hang fault holds open; destroyed when the simulator closes. */
  readonly hung: Set<Socket>;
}
