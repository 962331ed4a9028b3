import { connect, type Socket } from 'node:net';

/** An SMTP session over a plain socket, for tests that write what a client library would not. */
export interface SmtpSession {
  socket: Socket;
  closed(): boolean;
  /** The next reply, all its lines as one string; `(closed)` once the server closed. */
  reply(): Promise<string>;
  /** Writes a command (a line, CRLF added) or raw bytes (as they are), and reads the reply. */
  command(line: string | Buffer): Promise<string>;
}

/** `encoding`: how replies are read (`latin1` shows each byte of a reply that is not ASCII). */
export function openSmtpSession(port: number, encoding: BufferEncoding = 'utf8'): SmtpSession {
  const socket = connect(port, '127.0.0.1');
  let buffered = '';
  let closed = false;
  const waiting: ((reply: string) => void)[] = [];
  const deliver = () => {
    for (;;) {
      const match = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3} [^\r\n]*\r\n/.exec(buffered);
      if (!match && closed && waiting.length > 0) {
        waiting.shift()?.('(closed)');
        continue;
      }
      const next = match && waiting.shift();
      if (!match || !next) return;
      buffered = buffered.slice(match[0].length);
      next(match[0].trim());
    }
  };
  socket.setEncoding(encoding);
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    deliver();
  });
  // A write after the server closed (a test's client sends on regardless): the reply says it.
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    deliver();
  });
  const reply = () =>
    new Promise<string>((resolve) => {
      waiting.push(resolve);
      deliver();
    });
  return {
    socket,
    closed: () => closed,
    reply,
    command(line) {
      socket.write(typeof line === 'string' ? `${line}\r\n` : line);
      return reply();
    },
  };
}
