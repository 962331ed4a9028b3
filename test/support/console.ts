import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { RunningSimulator } from '../../src/simulator/index.ts';
import { message, type TestService, waitFor } from '../helpers.ts';

/** A console session driven with fetch: its cookie and the CSRF token of its pages. */
export interface ConsoleClient {
  cookie: string;
  csrf: string;
  get(path: string): Promise<{ status: number; text: string; headers: Headers }>;
  post(
    path: string,
    fields: Record<string, string | string[]>,
    options?: { csrf?: string | null; headers?: Record<string, string> },
  ): Promise<{ status: number; text: string; location: string | null }>;
}

export async function postForm(
  url: string,
  fields: Record<string, string | string[]>,
  headers: Record<string, string> = {},
): Promise<Response> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) {
    for (const one of ([] as string[]).concat(v)) body.append(k, one);
  }
  return fetch(url, {
    method: 'POST',
    body,
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
}

/**
 * A form posted from another client address on this machine (`localAddress`, e.g. 127.0.0.2:
 * the whole 127.0.0.0/8 is loopback), as a second browser elsewhere would; fetch cannot choose it.
 */
export function postFormFrom(
  localAddress: string,
  url: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const body = new URLSearchParams(fields).toString();
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        localAddress,
        port: target.port,
        method: 'POST',
        path: target.pathname,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Signs in through the form; fails the test when refused. */
export async function signIn(
  base: string,
  email: string,
  password: string,
): Promise<ConsoleClient> {
  const r = await postForm(`${base}/console/sign-in`, { email, password, next: '/console' });
  assert.equal(r.status, 303, `sign-in of ${email}: ${await r.text()}`);
  const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0] as string;
  const client: ConsoleClient = {
    cookie,
    csrf: '',
    async get(path) {
      const res = await fetch(`${base}${path}`, { headers: { cookie }, redirect: 'manual' });
      return { status: res.status, text: await res.text(), headers: res.headers };
    },
    async post(path, fields, options = {}) {
      const token = options.csrf === undefined ? client.csrf : options.csrf;
      const res = await postForm(
        `${base}${path}`,
        token === null ? fields : { ...fields, _csrf: token },
        { cookie, ...(options.headers ?? {}) },
      );
      return { status: res.status, text: await res.text(), location: res.headers.get('location') };
    },
  };
  const home = await client.get('/console');
  assert.equal(home.status, 200);
  client.csrf = /name="_csrf" value="([^"]+)"/.exec(home.text)?.[1] ?? '';
  assert.ok(client.csrf, 'the page carries a CSRF token');
  return client;
}

/** Submits `message(overrides)` through the API; fails the test unless accepted. Returns its id. */
export async function submitMessage(
  tegami: TestService,
  overrides: Record<string, unknown> = {},
): Promise<string> {
  const r = await tegami.request('POST', '/v1/messages', message(overrides));
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.id as string;
}

/**
 * Waits (up to 30 s) for the API's view of a message (its status, its recipients' delivery
 * status) to be as `ok` says; `what` names it in the failure.
 */
export async function untilMessage(
  tegami: TestService,
  id: string,
  ok: (m: { status: string; recipients: { delivery_status?: string }[] }) => boolean,
  what: string,
): Promise<void> {
  await waitFor(
    async () => ok((await tegami.request('GET', `/v1/messages/${id}`)).body),
    `${id}: ${what}`,
    30_000,
  );
}

/** Waits (up to 30 s) for message `id` to have this status (`sent`, `failed`, ...). */
export function untilStatus(tegami: TestService, id: string, status: string): Promise<void> {
  return untilMessage(tegami, id, (m) => m.status === status, status);
}

/** Waits (up to 30 s) for the first recipient of message `id` to have this delivery status. */
export function untilDeliveryStatus(
  tegami: TestService,
  id: string,
  status: string,
): Promise<void> {
  return untilMessage(tegami, id, (m) => m.recipients[0]?.delivery_status === status, status);
}

/**
 * Dead letters for a recovery to retry: one message per entry of `overrides`, each in
 * `category`, which the simulator refuses with SendGrid's 400 until they have failed (and then
 * takes again). Returns their ids.
 */
export async function deadLetters(
  { simulator, tegami }: { simulator: RunningSimulator; tegami: TestService },
  category: string,
  overrides: Record<string, unknown>[],
): Promise<string[]> {
  simulator.faults.rejectCategories = [category];
  const ids: string[] = [];
  for (const one of overrides) {
    ids.push(await submitMessage(tegami, { categories: [category], ...one }));
  }
  for (const id of ids) await untilStatus(tegami, id, 'failed');
  simulator.faults.rejectCategories = [];
  return ids;
}
