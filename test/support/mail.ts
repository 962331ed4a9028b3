import type { RunningSimulator } from '../../src/simulator/index.ts';
import { TEST_KEY, type TestService, waitFor } from '../helpers.ts';

/** The sandbox's rendering (MIME) of message `id`, once the worker has sent it. */
export function sandboxMime(svc: TestService, id: string): Promise<string> {
  return waitFor(async () => {
    const r = await svc.request('GET', `/v1/sandbox/messages?message_id=${id}`);
    return (r.body.data?.[0]?.mime as string | undefined) ?? null;
  }, `the sandbox copy of ${id}`);
}

/** `POST /v3/mail/send` with the test key: the status, the JSON answer and `X-Message-Id`. */
export async function postMailSend(svc: TestService, body: unknown) {
  const r = await fetch(`${svc.url}/v3/mail/send`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  return {
    status: r.status,
    json: text ? JSON.parse(text) : undefined,
    xMessageId: r.headers.get('x-message-id') ?? '',
  };
}

/** The mail/send requests the simulator took, once there are `count` of them. */
export function simulatorReceived<T>(simulator: RunningSimulator, count: number): Promise<T[]> {
  return waitFor(async () => {
    const r = await fetch(`${simulator.url}/_simulator/messages`);
    const page = (await r.json()) as { messages: T[] };
    return page.messages.length === count ? page.messages : null;
  }, `${count} sends to reach SendGrid`);
}
