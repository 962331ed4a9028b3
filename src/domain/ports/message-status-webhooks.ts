import type { WebhookDelivery } from './status-webhook-store.ts';

/** The status webhooks queued about one message, for its page in the console. */
export interface MessageStatusWebhooks {
  /**
   * Oldest first, at most `limit`. Only those queued between `from` and `to` (epoch ms): the
   * message's life so far, so the search reads that stretch of the queue and no more.
   */
  ofMessage(messageId: string, from: number, to: number, limit: number): Promise<WebhookDelivery[]>;
}
