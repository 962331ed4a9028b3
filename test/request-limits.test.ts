import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ERROR_CODES } from '../src/api/error-codes.ts';
import { LingeringSockets } from '../src/api/linger.ts';
import { message, spawnTegami, TEST_KEY, tempDatabase, waitFor } from './helpers.ts';

type ErrorBody = { error: { code: string; message: string } };

describe('an oversized upload reads its 413 (real process, Node fetch)', () => {
  const db = tempDatabase();
  const server = spawnTegami(['api'], {
    TEGAMI_DATABASE_URL: db.url,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
  });
  after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    await db.cleanup();
  });

  const post = (url: string, body: RequestInit['body'], extra: RequestInit = {}) =>
    fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body,
      ...extra,
    });

  async function expect413(response: Response) {
    assert.equal(response.status, 413);
    const body = (await response.json()) as ErrorBody;
    assert.equal(body.error.code, 'payload_too_large');
    assert.equal(ERROR_CODES.payload_too_large.status, 413);
    assert.equal(typeof body.error.message, 'string');
  }

  test('45 MB to POST /v1/messages, ten times over: always a 413 with the error shape', async () => {
    const url = await server.ready;
    const body = JSON.stringify(message({ text: 'x'.repeat(45 * 1024 * 1024) }));
    // Before the fix about a third of these ended in EPIPE or a reset on an idle machine.
    for (let i = 0; i < 10; i++) await expect413(await post(`${url}/v1/messages`, body));
    // A batch over its own 50 MiB limit, too.
    const batch = JSON.stringify({ messages: [message({ text: 'x'.repeat(52 * 1024 * 1024) })] });
    await expect413(await post(`${url}/v1/messages/batch`, batch));
  });

  test('a streamed upload with no Content-Length gets its 413 too', async () => {
    const url = await server.ready;
    const chunk = new Uint8Array(1024 * 1024).fill(0x20);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 45) controller.close();
        else {
          sent++;
          controller.enqueue(chunk);
        }
      },
    });
    await expect413(await post(`${url}/v1/messages`, stream, { duplex: 'half' } as RequestInit));
  });

  test('the connection stays usable: a normal request follows on it', async () => {
    const url = await server.ready;
    const body = JSON.stringify(message({ text: 'x'.repeat(12 * 1024 * 1024) }));
    await expect413(await post(`${url}/v1/messages`, body));
    const ok = await post(`${url}/v1/messages`, JSON.stringify(message()));
    assert.equal(ok.status, 202);
  });
});

describe('lingering after an early answer is bounded', () => {
  const lingering = new LingeringSockets({ idleMs: 300, maxBytes: 256 * 1024, maxMs: 5_000 });
  const server = createServer((request, response) => {
    response.writeHead(413, { 'content-type': 'application/json' }).end('{"error":{}}');
    response.on('finish', () => lingering.drainUnreadBody(request));
  });
  before(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
  after(() => {
    lingering.closeAll();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Sends headers announcing `declared` bytes, then `send` is called until the socket closes. */
  function upload(declared: number, send: (write: (b: Buffer) => boolean) => void) {
    const { port } = server.address() as { port: number };
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let closed = false;
    socket.on('data', (d) => {
      answer += d.toString();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
    });
    socket.write(
      `POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n`,
    );
    send((b) => !socket.destroyed && socket.write(b));
    return { answer: () => answer, closed: () => closed, socket };
  }

  test('a client that stops sending is closed once it has been idle', async () => {
    const started = Date.now();
    const client = upload(10_000_000, (write) => write(Buffer.alloc(1000)));
    await waitFor(async () => client.closed(), 'the idle connection to be closed', 10_000);
    assert.match(client.answer(), /^HTTP\/1.1 413/);
    assert.ok(Date.now() - started >= 250, 'it was given the idle time first');
  });

  test('a client that keeps sending is closed after the byte bound', async () => {
    let timer: NodeJS.Timeout | undefined;
    let written = 0;
    const client = upload(1_000_000_000, (write) => {
      timer = setInterval(() => {
        if (write(Buffer.alloc(64 * 1024))) written += 64 * 1024;
      }, 5);
    });
    try {
      await waitFor(async () => client.closed(), 'the connection to be closed', 10_000);
    } finally {
      clearInterval(timer);
    }
    assert.match(client.answer(), /^HTTP\/1.1 413/);
    assert.ok(written < 100 * 1024 * 1024, `closed after ${written} bytes`);
  });

  test('a body that ends in time leaves the connection open', async () => {
    const client = upload(300_000, (write) => write(Buffer.alloc(300_000)));
    await waitFor(async () => client.answer().includes('413'), 'the answer');
    await new Promise((r) => setTimeout(r, 800)); // longer than the idle bound
    assert.equal(client.closed(), false);
    client.socket.destroy();
  });
});
