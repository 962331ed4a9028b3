import type { Provider } from '../domain/ports/provider.ts';
import type { OutboundMessage, SendResult } from '../domain/types.ts';
import type { SandboxProvider } from './sandbox/sandbox-provider.ts';

/**
 * For tests only (`TEGAMI_PROVIDER=test`): fails on demand, chosen by the local part of the first
 * `to` address, so a test can drive every retry path through real processes:
 *
 * - `permanent…@`          permanent failure (as an HTTP 400 from a provider)
 * - `retryable…@`          retryable failure (HTTP 503) on every attempt
 * - `retryable-N…@`        retryable failure on attempts 1..N, then accepted
 * - `retry-after-MS…@`     retryable (HTTP 429) with Retry-After MS milliseconds on attempt 1
 * - `slow-MS…@`            waits MS milliseconds, then accepted
 * - `throws…@`             the provider throws (a bug in an adapter must not lose the message)
 *
 * Anything else is handed to the sandbox provider, so it shows in the sandbox outbox.
 */
export class TestProvider implements Provider {
  readonly name = 'test';

  constructor(private readonly sandbox: SandboxProvider) {}

  async send(message: OutboundMessage): Promise<SendResult> {
    const local = (message.content.to[0]?.email ?? '').split('@')[0]?.toLowerCase() ?? '';
    const number = (prefix: string) => Number.parseInt(local.slice(prefix.length), 10);

    if (local.startsWith('permanent')) {
      return {
        outcome: 'permanent',
        httpStatus: 400,
        errorClass: 'http_400',
        detail: 'test provider: permanent failure requested',
      };
    }
    if (local.startsWith('retryable')) {
      const failures = number('retryable-');
      if (Number.isNaN(failures) || message.attempt <= failures) {
        return {
          outcome: 'retryable',
          httpStatus: 503,
          errorClass: 'http_503',
          detail: `test provider: retryable failure on attempt ${message.attempt}`,
        };
      }
    }
    if (local.startsWith('retry-after-') && message.attempt === 1) {
      return {
        outcome: 'retryable',
        httpStatus: 429,
        errorClass: 'http_429',
        retryAfterMs: number('retry-after-') || 1000,
        detail: 'test provider: rate limited',
      };
    }
    if (local.startsWith('slow-')) {
      await new Promise((resolve) => setTimeout(resolve, number('slow-') || 100));
    }
    if (local.startsWith('throws')) {
      throw new Error('test provider: exception requested');
    }
    return this.sandbox.send(message);
  }
}
