import { generateSigningKey } from '../../src/simulator/event-webhook/signing.ts';
import { type RunningSimulator, startSimulator } from '../../src/simulator/index.ts';
import { freePort, request, startTestService, type TestService } from '../helpers.ts';

export interface SignedEventsSetup {
  simulator: RunningSimulator;
  tegami: TestService;
  /** The Event Webhook's signing key pair: the simulator signs with it, Tegami verifies. */
  keys: ReturnType<typeof generateSigningKey>;
  /** A request to the simulator's control API (`/_simulator…`: faults, outages, its stats). */
  control(method: string, path: string, body?: unknown): ReturnType<typeof request>;
  stop(): Promise<void>;
}

/**
 * Tegami sending through the `sendgrid` provider to the simulator, which posts signed delivery
 * events back to Tegami's `/webhooks/sendgrid` within a few tens of milliseconds: the setup of
 * every test that follows a message from the API to its delivery events. `apiKey` is the
 * SendGrid key both sides use (the simulator then refuses any other); `env` adds to Tegami's.
 */
export async function startWithSignedEvents(
  options: { apiKey?: string; env?: Record<string, string> } = {},
): Promise<SignedEventsSetup> {
  const keys = generateSigningKey();
  const port = await freePort();
  const simulator = await startSimulator({
    port: 0,
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    eventWebhook: {
      url: `http://127.0.0.1:${port}/webhooks/sendgrid`,
      signingKey: keys.privateKeyBase64,
      eventDelayMs: 20,
      flushIntervalMs: 20,
      retryBaseMs: 100,
    },
  });
  const tegami = await startTestService({
    TEGAMI_HTTP_PORT: String(port),
    TEGAMI_PROVIDER: 'sendgrid',
    TEGAMI_SENDGRID_API_KEY: options.apiKey ?? 'SG.events',
    TEGAMI_SENDGRID_BASE_URL: simulator.url,
    TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: keys.publicKeyBase64,
    ...options.env,
  });
  return {
    simulator,
    tegami,
    keys,
    control: (method, path, body) => request(simulator.url, method, `/_simulator${path}`, body),
    async stop() {
      await tegami.stop();
      await simulator.close();
    },
  };
}
