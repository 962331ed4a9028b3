import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Captured {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Answer = (
  request: Captured,
  response: ServerResponse,
  index: number,
) => void | Promise<void>;

/** A bare HTTP server that records every request and answers with `answer` (default: 202). */
export async function startCaptureServer(answer?: Answer) {
  const captured: Captured[] = [];
  const sockets = new Set<import('node:net').Socket>();
  let handler: Answer =
    answer ??
    ((_req, res, i) => {
      res.writeHead(202, { 'x-message-id': `capture${String(i).padStart(15, '0')}` }).end();
    });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request: Captured = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      captured.push(request);
      void handler(request, res, captured.length - 1);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    captured,
    setAnswer(next: Answer) {
      handler = next;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
