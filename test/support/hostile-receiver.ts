import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What a status-webhook receiver does with one request. */
export type Behaviour =
  /** Answers `status` after `delayMs`, with `body`. */
  | { kind: 'answer'; status: number; delayMs: number; body: Body }
  /** Reads the request and never answers. */
  | { kind: 'hang' }
  /** Closes the connection without answering (`reset`: with a TCP reset). */
  | { kind: 'drop'; reset: boolean }
  /** Writes bytes that are not HTTP, then closes the connection or keeps it open. */
  | { kind: 'garbage'; text: string; keepOpen: boolean }
  /** Answers with a redirect to `location`. */
  | { kind: 'redirect'; status: 301 | 302 | 303 | 307 | 308; location: string };

export type Body =
  | { type: 'text'; text: string }
  /** `bytes` of body, as fast as the reader takes them (with Content-Length or chunked). */
  | { type: 'huge'; bytes: number; chunked: boolean }
  /** One byte every `everyMs` for `forMs`, chunked. */
  | { type: 'trickle'; everyMs: number; forMs: number }
  /** Declares `declared` bytes, sends `sent` (fewer), then closes the connection. */
  | { type: 'cut'; declared: number; sent: number };

/** One request as the receiver saw it. */
export interface Attempt {
  deliveryId: string;
  path: string;
  body: string;
  behaviour: Behaviour;
  /** When the request had fully arrived. */
  arrivedAt: number;
  /**
   * When the receiver began what ends the attempt on its side: the first byte of its answer,
   * or closing the connection. Null while it has done neither (it waits, or never answers).
   * The sender can see the answer only after this, so an attempt the answer ended failed, for the
   * sender, no earlier than this; the sender may notice that much later on a busy machine.
   */
  answeredAt: number | null;
  /** When the answer was complete or the connection closed, whichever came first. */
  endedAt: number | null;
}

const CHUNK = Buffer.alloc(64 * 1024, 'x');

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * A receiver on 127.0.0.1 whose behaviour per request is `behave(index, deliveryId)`. It
 * records each attempt, when it ended, and how many were open at once. Writes respect
 * backpressure, so a huge body costs this process little memory.
 */
export async function startHostileReceiver(
  behave: (index: number, deliveryId: string) => Behaviour,
) {
  const attempts: Attempt[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let open = 0;
  let maxOpen = 0;
  let closed = false;

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  async function writeBody(res: ServerResponse, body: Body, gone: () => boolean): Promise<void> {
    const socket = res.socket;
    switch (body.type) {
      case 'text':
        res.end(body.text);
        return;
      case 'huge': {
        let left = body.bytes;
        while (left > 0 && !gone()) {
          const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
          left -= piece.length;
          if (!res.write(piece)) await drainedOrClosed(res);
        }
        if (!gone()) res.end();
        return;
      }
      case 'trickle': {
        const until = Date.now() + body.forMs;
        while (Date.now() < until && !gone()) {
          res.write('x');
          await wait(body.everyMs);
        }
        if (!gone()) res.end();
        return;
      }
      case 'cut':
        res.write(CHUNK.subarray(0, body.sent));
        await wait(10);
        socket?.destroy();
        return;
    }
  }

  async function answer(req: IncomingMessage, res: ServerResponse, attempt: Attempt) {
    const socket = req.socket;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      attempt.endedAt = Date.now();
      open--;
    };
    // 'close' also comes when the connection goes away before the answer is complete.
    res.once('finish', end);
    res.once('close', end);
    const gone = () => ended || closed || socket.destroyed;
    const answering = () => {
      attempt.answeredAt = Date.now();
    };
    const behaviour = attempt.behaviour;
    switch (behaviour.kind) {
      case 'hang':
        return;
      case 'drop':
        answering();
        if (behaviour.reset) socket.resetAndDestroy();
        else socket.destroy();
        return;
      case 'garbage':
        answering();
        socket.write(behaviour.text);
        if (!behaviour.keepOpen) socket.end();
        return;
      case 'redirect':
        answering();
        res.writeHead(behaviour.status, { location: behaviour.location }).end('moved');
        return;
      case 'answer': {
        if (behaviour.delayMs > 0) await wait(behaviour.delayMs);
        if (gone()) return;
        answering();
        const body = behaviour.body;
        const headers: Record<string, string | number> = { 'content-type': 'text/plain' };
        if (body.type === 'huge' && !body.chunked) headers['content-length'] = body.bytes;
        if (body.type === 'cut') headers['content-length'] = body.declared;
        res.writeHead(behaviour.status, headers);
        await writeBody(res, body, gone);
        return;
      }
    }
  }

  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      if (closed) return;
      const deliveryId = String(req.headers['tegami-webhook-id'] ?? '');
      const attempt: Attempt = {
        deliveryId,
        path: req.url ?? '',
        body: Buffer.concat(parts).toString('utf8'),
        behaviour: behave(attempts.length, deliveryId),
        arrivedAt: Date.now(),
        answeredAt: null,
        endedAt: null,
      };
      attempts.push(attempt);
      open++;
      maxOpen = Math.max(maxOpen, open);
      void answer(req, res, attempt);
    });
  });
  // The receiver must not give up before the sender does.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    port,
    attempts,
    /** Attempts whose answer has not ended yet. */
    get open() {
      return open;
    },
    get maxOpen() {
      return maxOpen;
    },
    async close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type HostileReceiver = Awaited<ReturnType<typeof startHostileReceiver>>;

/** RSS and peak RSS of a process, in MiB, from /proc (Linux); null elsewhere. */
export async function processMemoryMiB(pid: number): Promise<{ rss: number; peak: number } | null> {
  const { readFile } = await import('node:fs/promises');
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    const rss = kb('VmRSS');
    const peak = kb('VmHWM');
    return Number.isFinite(rss) && Number.isFinite(peak)
      ? { rss: rss / 1024, peak: peak / 1024 }
      : null;
  } catch {
    return null;
  }
}
