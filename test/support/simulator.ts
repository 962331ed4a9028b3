import {
  type RunningSimulator,
  type SimulatorOptions,
  startSimulator,
} from '../../src/simulator/index.ts';
import {
  request,
  startTestService,
  type TestService,
  type TestServiceOptions,
} from '../helpers.ts';

export interface SimulatorSetup {
  simulator: RunningSimulator;
  tegami: TestService;
  /** A request to the simulator's control API (`/_simulator…`: outages, its API key). */
  control(method: string, path: string, body?: unknown): ReturnType<typeof request>;
  stop(): Promise<void>;
}

/**
 * Tegami sending through the `sendgrid` provider to the simulator, both with SendGrid key
 * `apiKey` (the simulator refuses any other); `env` adds to Tegami's. `options.simulator` adds
 * to the simulator's options (e.g. `faults` in force before Tegami's first request),
 * `options.service` is startTestService's (e.g. its logger). For delivery events too, see
 * startWithSignedEvents.
 */
export async function startWithSimulator(
  apiKey: string,
  env: Record<string, string> = {},
  options: {
    simulator?: Omit<SimulatorOptions, 'port' | 'apiKey'>;
    service?: TestServiceOptions;
  } = {},
): Promise<SimulatorSetup> {
  const simulator = await startSimulator({ ...options.simulator, port: 0, apiKey });
  let tegami: TestService;
  try {
    tegami = await startTestService(
      {
        TEGAMI_PROVIDER: 'sendgrid',
        TEGAMI_SENDGRID_API_KEY: apiKey,
        TEGAMI_SENDGRID_BASE_URL: simulator.url,
        ...env,
      },
      options.service,
    );
  } catch (error) {
    await simulator.close();
    throw error;
  }
  return {
    simulator,
    tegami,
    control: (method, path, body) => request(simulator.url, method, `/_simulator${path}`, body),
    async stop() {
      await tegami.stop();
      await simulator.close();
    },
  };
}
