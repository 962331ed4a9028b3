/**
 * The SendGrid simulator: a local, faithful `POST /v3/mail/send` with fault injection and the
 * Event Webhook. Run it with `tegami simulator`, or in-process with `startSimulator()`.
 */
import { isParseArgsError, parseSimulatorArgs, SIMULATOR_USAGE, UsageError } from './cli-args.ts';
import { FaultsError } from './faults/settings.ts';
import {
  DEFAULT_PORT,
  type RunningSimulator,
  type SimulatorOptions,
  startSimulator,
} from './server.ts';

export { parseSimulatorArgs, SIMULATOR_OPTIONS, SIMULATOR_USAGE } from './cli-args.ts';
export type { EventWebhookOptions } from './event-webhook/emitter.ts';
export { type Decision, decide, initialFaultState } from './faults/decide.ts';
export { type Faults, FaultsError, validateFaults } from './faults/settings.ts';
export type { SendGridError } from './mail-send/errors.ts';
export { createMailSendValidator, type MailSendValidator } from './mail-send/validate.ts';
export type { StoredMessage } from './message-log.ts';
export { nginxErrorPage } from './sendgrid-answers.ts';
export {
  BODY_LIMIT,
  DEFAULT_PORT,
  type RunningSimulator,
  type SimulatorOptions,
  startSimulator,
} from './server.ts';

/** `tegami simulator …`: runs until SIGTERM or SIGINT; returns the exit code. */
export async function runSimulatorCommand(args: string[]): Promise<number> {
  let parsed: { help: boolean; options: SimulatorOptions };
  try {
    parsed = parseSimulatorArgs(args);
  } catch (error) {
    if (error instanceof UsageError || error instanceof FaultsError || isParseArgsError(error)) {
      console.error(`tegami simulator: ${(error as Error).message}\n\n${SIMULATOR_USAGE}`);
      return 64; // EX_USAGE, as every tegami command
    }
    throw error;
  }
  if (parsed.help) {
    console.log(SIMULATOR_USAGE);
    return 0;
  }

  let signalled: string | null = null;
  let onSignal: (signal: string) => void = (signal) => {
    signalled = signal;
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => onSignal(signal));

  let simulator: RunningSimulator;
  try {
    simulator = await startSimulator(parsed.options);
  } catch (error) {
    const problem = listenProblem(error, parsed.options);
    if (problem === null) throw error;
    console.error(`tegami simulator: ${problem}`);
    return 69; // EX_UNAVAILABLE, as tegami serve and api when they cannot listen
  }
  // One write, so that whoever waits for the "listening on" line has the key line too.
  console.log(
    `SendGrid simulator listening on ${simulator.url}\n` +
      `Event Webhook public key: ${simulator.publicKeyBase64}`,
  );

  await new Promise<void>((resolve) => {
    onSignal = (signal: string) => {
      onSignal = () => {};
      console.log(`${signal}: stopping.`);
      simulator.close().then(resolve, (error: unknown) => {
        console.error(`tegami simulator: stopping failed: ${String(error)}`);
        resolve();
      });
    };
    if (signalled) onSignal(signalled);
  });
  console.log('Stopped.');
  // Anything still open (a webhook delivery in flight) must not keep the process alive.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}

/** Why the simulator could not listen, as one line naming the flag to change; null if not that. */
function listenProblem(error: unknown, options: SimulatorOptions): string | null {
  const { code, syscall } = error as { code?: string; syscall?: string };
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_PORT;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return `--port ${port}: address already in use on ${host} (is another simulator running?)`;
    case 'EACCES':
      return `--port ${port}: permission denied on ${host} (ports below 1024 need privileges)`;
    case 'EADDRNOTAVAIL':
      return `--host ${host}: this machine has no such address`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `--host ${host}: the host name could not be resolved`;
    default:
      return syscall === 'listen' || syscall === 'bind'
        ? `cannot listen on ${where}: ${(error as Error).message}`
        : null;
  }
}
