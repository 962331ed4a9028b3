import type { CredentialCheck, OutboundMessage, SendResult } from '../types.ts';

/** A service that sends mail. Adding one must not touch domain code. */
export interface Provider {
  readonly name: string;
  /**
   * Never throws for a provider-side problem: it reports it as a `SendResult`. When `abandon`
   * aborts, the call gives up waiting and reports outcome `unknown` if the request was sent.
   */
  send(message: OutboundMessage, abandon?: AbortSignal): Promise<SendResult>;
  /**
   * Asks the provider whether our credentials work, without sending anything. Never throws for
   * a provider-side problem. Providers without credentials leave it out.
   */
  verify?(signal?: AbortSignal): Promise<CredentialCheck>;
  close?(): Promise<void>;
}
