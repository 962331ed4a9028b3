import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { simpleParser } from 'mailparser';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import {
  MAX_MESSAGE_BYTES,
  MAX_RECIPIENTS,
  type MessageInput,
} from '../domain/validate-message.ts';
import { mailToMessage, type ParsedMailLike } from './mail-to-message.ts';

/**
 * SMTP submission into Tegami, for applications (and frameworks) that can only send mail over
 * SMTP. It is a front for `POST /v1/messages`: each mail is read into that request's body and
 * handed to the API in this process, so the same key, checks, sending limit, idempotency and
 * durability apply, and `250` is answered only once the message is committed. Errors keep their
 * meaning: what the client must fix is a `5xx`, what may pass by itself (the sending limit, the
 * database away) a `4xx` it retries.
 */

export interface SmtpIngressOptions {
  host: string;
  port: number;
  /** PEM key and certificate: STARTTLS is offered (or the whole connection is TLS, `implicitTls`). */
  tls: { key: Buffer; cert: Buffer } | null;
  implicitTls: boolean;
  /** AUTH without TLS from other hosts (TEGAMI_SMTP_ALLOW_INSECURE_AUTH); loopback always may. */
  allowInsecureAuth: boolean;
  maxClients: number;
  /** Connections at once from one address: one client cannot take every place. */
  maxClientsPerAddress: number;
  /**
   * How long after its greeting a connection may go without authenticating before it is closed
   * (`421 4.4.2`): one that never does would otherwise keep a place for as long as it talks.
   */
  authTimeoutMs: number;
  /**
   * How long a mail's DATA may take to arrive, from `354` to its final dot; past it the mail is
   * dropped (nothing stored) and the connection closed (`421 4.4.2`). The idle timeout alone
   * does not bound it: every byte restarts that one.
   */
  dataTimeoutMs: number;
}

/** What the API answered the submission (`POST /v1/messages`). */
export interface SubmissionAnswer {
  status: number;
  body: unknown;
}

export interface SmtpIngressDeps {
  /** Whether `key` is an active API key (the API checks it again with each submission). */
  isActiveKey(key: string): Promise<boolean>;
  /** `POST /v1/messages` with the key as a bearer token and an optional Idempotency-Key. */
  submit(
    key: string,
    input: MessageInput,
    idempotencyKey: string | null,
  ): Promise<SubmissionAnswer>;
  logger: Logger;
}

export interface SmtpIngress {
  /** `host:port` it listens on. */
  address: string;
  port: number;
  close(): Promise<void>;
}

/** How long a stop waits for sessions under way before it closes their connections. */
const CLOSE_TIMEOUT_MS = 10_000;
/**
 * A connection that sends nothing this long while the server waits for it is closed (`421`).
 * smtp-server's own default, set here so that it is a choice: it holds before AUTH (where the
 * auth deadline mostly comes first), between mails, and between the bytes of a DATA (which has a
 * deadline of its own too). It does not run while the server itself is busy (checking a key,
 * storing a mail): the client is waiting then, not idle.
 */
const IDLE_TIMEOUT_MS = 60_000;
/**
 * Failed AUTHs a connection may make; the last is answered `421` and the connection closed.
 * smtp-server does not count AUTH among the commands it allows before authentication, so a
 * connection could otherwise try keys (and write a warning each time) for as long as it likes.
 */
const MAX_AUTH_FAILURES = 3;

/** Longest reply text: with its code and CRLF within RFC 5321's 512 octets per reply line. */
const MAX_REPLY_TEXT = 400;

/**
 * Reply text as RFC 5321 (4.2) has it: one line of printable ASCII. A refusal may name what the
 * mail held (a header's name, which may be UTF-8); what is not printable ASCII is written as a
 * `\uXXXX` escape, so that a client reads the same characters whatever it decodes replies as.
 */
function replyText(text: string): string {
  const line = text
    .replace(/[\r\n]+/g, ' ')
    .replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (line.length <= MAX_REPLY_TEXT) return line;
  // Not an escape cut in two.
  return line.slice(0, MAX_REPLY_TEXT).replace(/\\u[0-9a-f]{0,3}$/, '');
}

function smtpError(code: number, text: string): Error {
  return Object.assign(new Error(replyText(text)), { responseCode: code });
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const bare = address.startsWith('::ffff:') ? address.slice(7) : address;
  return bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

/** What a refused AUTH's user name is logged as when it holds a key. */
const KEY_IN_USER_NAME = '(an API key)';

/**
 * Runs of the characters keys are written in (base64 and base64url, with padding): a user name
 * is cut into them at anything else (`:`, quotes, `<>`, `@`, `.`, spaces).
 */
const KEY_CHARACTER_RUNS = /[A-Za-z0-9+/_-]+=*/g;
/** The fewest characters of such a run that is taken for a key when it mixes kinds of characters. */
const KEY_SHAPED_LENGTH = 20;
/** The most look-ups of a user name's parts among the active keys. */
const MOST_KEY_LOOKUPS = 8;

/**
 * Whether a user name holds something shaped like a key anywhere in it, whatever wraps it
 * (`apikey:<key>`, `"<key>"`, `<<key>>`, a sentence): a Tegami key (`tgm_…`), a SendGrid key
 * (`SG.…`), or a long token that looks random. A token of 20 or more base64(url) characters that
 * mixes at least two of capitals, small letters and digits is taken for one: a random base64 one
 * of 20 characters fails that about once in seven million (a hex one once in 12,000), a longer
 * one less often. A user name such as
 * `apikey`, `shop-mailer` or an email address does not look like that; the odd one that does
 * (`reservations+bookings2024@…`) is logged as a key too, which costs only its name in the log.
 */
function holdsKeyShapedText(username: string): boolean {
  if (/tgm_/i.test(username) || /(?<![A-Za-z0-9])SG\./.test(username)) return true;
  return (username.match(KEY_CHARACTER_RUNS) ?? []).some(
    (run) =>
      run.length >= KEY_SHAPED_LENGTH &&
      [/[A-Z]/, /[a-z]/, /[0-9]/].filter((kind) => kind.test(run)).length >= 2,
  );
}

/**
 * A refused AUTH's user name as it is logged: as given (`apikey`, a user's address), which tells
 * an operator which client is misconfigured, unless it holds a key: anything key-shaped anywhere
 * in it (`holdsKeyShapedText`: a Tegami key, a SendGrid key pasted by an application moving from
 * SendGrid's SMTP, which wants `apikey` there, a long random token), or an active key of any
 * other shape (a short bootstrap key), as the whole user name, in a form the API takes
 * (`Bearer <key>`, spaces around it) or as one of its parts (`apikey:<key>`, `"<key>"`).
 */
async function loggedUserName(
  username: string | undefined,
  isActiveKey: (key: string) => Promise<boolean>,
): Promise<string | undefined> {
  if (!username) return username;
  if (holdsKeyShapedText(username)) return KEY_IN_USER_NAME;
  const bare = username.trim().replace(/^bearer\s+/i, '');
  const parts = username.split(/[\s:"'<>]+/);
  const candidates = [...new Set([username, bare, ...parts])].filter((c) => c !== '');
  for (const candidate of candidates.slice(0, MOST_KEY_LOOKUPS)) {
    if (await isActiveKey(candidate).catch(() => true)) return KEY_IN_USER_NAME;
  }
  return username;
}

/** The API key the session authenticated with (kept in memory only, for its submissions). */
interface SessionUser {
  key: string;
}

/**
 * The Message-ID as an Idempotency-Key: a client that resends a mail whose `250` it did not
 * read (a dropped connection) gets the first answer again, not a second message. The envelope's
 * recipients are part of it: a relay that splits one mail's recipients over several
 * transactions (Postfix sends at most 50 per transaction; past 1,000 this server answers `452`
 * and the client sends the rest in another) sends the same Message-ID each time, and each part
 * is a message of its own. Hashed, so that any Message-ID (longer than an Idempotency-Key may
 * be, or not ASCII) still makes one.
 */
function idempotencyKeyOf(messageId: string | undefined, rcptTo: string[]): string | null {
  if (!messageId) return null;
  const recipients = [...new Set(rcptTo.map((r) => r.toLowerCase()))].sort();
  const hash = createHash('sha256')
    .update(JSON.stringify([messageId, recipients]))
    .digest('base64url');
  return `smtp:${hash}`;
}

/** The DATA of one mail, or null once it is over `limit` bytes (the rest is read and dropped). */
async function readMail(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  // Read to the end whatever comes: the client is answered only once its whole DATA is in, and
  // a mail over the limit must not be held in memory (nor parsed) while it streams in.
  for await (const chunk of stream) {
    if (over) continue;
    const bytes = chunk as Buffer;
    size += bytes.length;
    if (size > limit) {
      over = true;
      chunks.length = 0;
    } else {
      chunks.push(bytes);
    }
  }
  return over ? null : Buffer.concat(chunks, size);
}

/** The API's error as one SMTP reply line: the code and text, with the fields it names. */
function describeRefusal(body: unknown): string {
  const error = (body as { error?: { message?: string; details?: unknown } } | null)?.error;
  const details = Array.isArray(error?.details)
    ? (error.details as { field?: string; message?: string }[])
        .slice(0, 5)
        .map((d) => `${d.field ?? ''} ${d.message ?? ''}`.trim())
        .join('; ')
    : '';
  // Made one reply line of printable ASCII by smtpError.
  return `${error?.message ?? 'refused'}${details ? `: ${details}` : ''}`;
}

function replyFor(answer: SubmissionAnswer): { ok: string } | { error: Error } {
  const { status, body } = answer;
  if (status === 202) {
    const id = (body as { id?: string }).id ?? '';
    return { ok: `2.0.0 OK: queued as ${id}` };
  }
  const text = describeRefusal(body);
  if (status === 400) return { error: smtpError(550, `5.6.0 ${text}`) };
  if (status === 401 || status === 403) return { error: smtpError(535, `5.7.8 ${text}`) };
  if (status === 413) return { error: smtpError(552, `5.3.4 ${text}`) };
  if (status === 409) {
    // The same Message-ID and recipients as an earlier mail, with other content: sending it again
    // can never succeed (a 4xx would have the client retry it for days).
    return {
      error: smtpError(
        550,
        '5.6.0 a mail with this Message-ID was already accepted for these recipients with other content; give a new mail a new Message-ID',
      ),
    };
  }
  if (status === 429) return { error: smtpError(451, `4.7.1 ${text}`) };
  return { error: smtpError(451, `4.3.0 ${text}`) };
}

export async function startSmtpIngress(
  options: SmtpIngressOptions,
  deps: SmtpIngressDeps,
): Promise<SmtpIngress> {
  const logger = deps.logger.child({ component: 'smtp' });
  /** Failed AUTHs per connection (its session object lives as long as it does). */
  const authFailures = new WeakMap<SMTPServerSession, number>();
  /**
   * Open connections per client address. TEGAMI_SMTP_MAX_CLIENTS counts connections before AUTH
   * too, so without this one client's idle connections (a drill: 200) shut every other out.
   */
  const openByAddress = new Map<string, number>();
  const addressOf = new WeakMap<SMTPServerSession, string>();
  /** Each connection's deadline for AUTH, from onConnect until it authenticates or closes. */
  const authDeadlines = new WeakMap<SMTPServerSession, NodeJS.Timeout>();
  /** When each connection's time to authenticate ends (epoch ms), from its greeting. */
  const authDeadlineAt = new WeakMap<SMTPServerSession, number>();

  /**
   * Closes the connection at its deadline unless it authenticated by then. Paused while a key is
   * being checked (an AUTH sent in time is not cut off by a slow database) and armed again for
   * what is left, possibly nothing, when the check refuses the key.
   */
  function armAuthDeadline(session: SMTPServerSession, address: string): void {
    const left = Math.max(0, (authDeadlineAt.get(session) ?? 0) - Date.now());
    const deadline = setTimeout(() => {
      authDeadlines.delete(session);
      if (session.user) return;
      logger.info(
        { remote: address },
        'SMTP connection closed: not authenticated in time (TEGAMI_SMTP_AUTH_TIMEOUT_S)',
      );
      closeConnection(session, 421, '4.4.2 authentication took too long; closing');
    }, left);
    deadline.unref();
    authDeadlines.set(session, deadline);
  }

  /**
   * Replies `code` and closes the connection of `session`, whatever it is doing: for a deadline,
   * when the client sends nothing that a handler could answer. smtp-server has no such call on a
   * session; its connections do (`send` with `421` ends the socket, stops reading commands, and
   * destroys the socket 5 s later if the client does not close its side).
   */
  function closeConnection(session: SMTPServerSession, code: number, text: string): void {
    for (const connection of server.connections) {
      if (connection.session === session) {
        connection.send(code, text);
        return;
      }
    }
  }

  function clearAuthDeadline(session: SMTPServerSession): void {
    clearTimeout(authDeadlines.get(session));
    authDeadlines.delete(session);
  }
  const server = new SMTPServer({
    secure: options.tls !== null && options.implicitTls,
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    disabledCommands: options.tls ? [] : ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    // Checked in onAuth, so that loopback clients may authenticate without TLS.
    allowInsecureAuth: true,
    size: MAX_MESSAGE_BYTES,
    maxClients: options.maxClients,
    banner: 'Tegami mail submission',
    disableReverseLookup: true,
    closeTimeout: CLOSE_TIMEOUT_MS,
    socketTimeout: IDLE_TIMEOUT_MS,
    logger: false,

    onConnect(session, callback) {
      const address = session.remoteAddress;
      const open = openByAddress.get(address) ?? 0;
      if (open >= options.maxClientsPerAddress) {
        logger.warn(
          { remote: address, open },
          'SMTP connection refused: too many from one address (TEGAMI_SMTP_MAX_CLIENTS_PER_ADDRESS)',
        );
        callback(smtpError(421, '4.7.0 too many connections from your address; try again later'));
        return;
      }
      openByAddress.set(address, open + 1);
      addressOf.set(session, address);
      // smtp-server bounds commands before AUTH (10 by default) and the time between them (the
      // idle timeout), not the time: NOOP now and then kept a place for minutes.
      authDeadlineAt.set(session, Date.now() + options.authTimeoutMs);
      armAuthDeadline(session, address);
      callback();
    },

    onClose(session) {
      clearAuthDeadline(session);
      // Only connections counted at onConnect (a refused one closes too).
      const address = addressOf.get(session);
      if (address === undefined) return;
      addressOf.delete(session);
      const open = (openByAddress.get(address) ?? 1) - 1;
      if (open > 0) openByAddress.set(address, open);
      else openByAddress.delete(address);
    },

    onAuth(auth, session, callback) {
      if (!session.secure && !options.allowInsecureAuth && !isLoopback(session.remoteAddress)) {
        callback(
          smtpError(
            538,
            options.tls
              ? '5.7.11 Encryption required: use STARTTLS before AUTH'
              : '5.7.11 Encryption required: this server takes AUTH over TLS only, and offers no TLS',
          ),
        );
        return;
      }
      const key = auth.password ?? '';
      clearAuthDeadline(session);
      const refused = (error: Error) => {
        armAuthDeadline(session, addressOf.get(session) ?? session.remoteAddress);
        callback(error);
      };
      deps.isActiveKey(key).then(
        (active) => {
          if (active) {
            callback(null, { user: { key } satisfies SessionUser });
            return;
          }
          // Never the password: the user name only, and where from; and not the user name either
          // when it is a key (given as the user name by mistake). loggedUserName never rejects.
          void loggedUserName(auth.username, deps.isActiveKey).then((username) => {
            logger.warn(
              { remote: session.remoteAddress, username },
              'SMTP AUTH refused: unknown or revoked API key',
            );
            const failures = (authFailures.get(session) ?? 0) + 1;
            authFailures.set(session, failures);
            if (failures >= MAX_AUTH_FAILURES) {
              callback(smtpError(421, '4.7.0 too many failed authentications; closing'));
              return;
            }
            refused(smtpError(535, '5.7.8 unknown or revoked API key (send it as the password)'));
          });
        },
        (err: unknown) => {
          logger.warn({ err }, 'SMTP AUTH could not check the key');
          refused(smtpError(454, '4.7.0 the key cannot be checked now; try again later'));
        },
      );
    },

    onRcptTo(_address, session, callback) {
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS) {
        callback(smtpError(452, `4.5.3 at most ${MAX_RECIPIENTS} recipients per message`));
        return;
      }
      callback();
    },

    onData(stream, session, callback) {
      receive(stream, session).then(
        (reply) => ('ok' in reply ? callback(null, reply.ok) : callback(reply.error)),
        (err: unknown) => {
          // Mostly a client gone in the middle of DATA: its mail was not taken, and it knows.
          logger.info({ err: (err as Error).message }, 'SMTP mail could not be read');
          callback(smtpError(451, '4.3.0 the mail could not be read; try again later'));
        },
      );
    },
  });

  /** The mail (or null, over the size limit), or 'late' once the DATA deadline has passed. */
  async function readMailInTime(stream: NodeJS.ReadableStream): Promise<Buffer | null | 'late'> {
    const reading = readMail(stream, MAX_MESSAGE_BYTES);
    let deadline: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      deadline = setTimeout(() => resolve('late'), options.dataTimeoutMs);
    });
    try {
      // Left behind when late, the reading ends with the connection (its stream is destroyed
      // then), its error handled by the race.
      return await Promise.race([reading, late]);
    } finally {
      clearTimeout(deadline);
    }
  }

  async function receive(
    stream: NodeJS.ReadableStream,
    session: SMTPServerSession,
  ): Promise<{ ok: string } | { error: Error }> {
    const raw = await readMailInTime(stream);
    if (raw === 'late') {
      // Answered now, before the stream ends (which it may never do): the client is told, the
      // connection closes, and the mail, whatever of it came, is dropped, never submitted.
      logger.info(
        { remote: session.remoteAddress },
        'SMTP mail dropped: its DATA took too long (TEGAMI_SMTP_DATA_TIMEOUT_S)',
      );
      const text = '4.4.2 the mail took too long to arrive; it was not taken, send it again';
      closeConnection(session, 421, text);
      return { error: smtpError(421, text) };
    }
    if (raw === null) {
      return { error: smtpError(552, `5.3.4 the mail is over ${MAX_MESSAGE_BYTES} bytes`) };
    }
    const user = session.user as SessionUser | undefined;
    if (!user) return { error: smtpError(530, '5.7.0 authentication required') };
    let parsed: Awaited<ReturnType<typeof simpleParser>>;
    try {
      // Only `text` and `html` are used: mailparser's HTML rendering of the text part (with its
      // links found by linkify) cost about 50 µs a mail for nothing (`npm run bench smtp`).
      parsed = await simpleParser(raw, {
        skipImageLinks: true,
        skipTextToHtml: true,
        skipTextLinks: true,
      });
    } catch (err) {
      // The whole mail is here: what cannot be parsed now never will be (e.g. more MIME parts or
      // a longer header than the parser takes), so not a 4xx the client retries.
      logger.info({ err }, 'SMTP mail refused: its MIME cannot be parsed');
      return {
        error: smtpError(554, `5.6.0 the mail cannot be parsed: ${(err as Error).message}`),
      };
    }
    const rcptTo = session.envelope.rcptTo.map((r) => r.address);
    const mapped = mailToMessage(parsed as unknown as ParsedMailLike, {
      mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
      rcptTo,
    });
    if ('refusal' in mapped) return { error: smtpError(550, `5.6.0 ${mapped.refusal}`) };
    const answer = await deps.submit(
      user.key,
      mapped.input,
      idempotencyKeyOf(parsed.messageId, rcptTo),
    );
    const reply = replyFor(answer);
    if ('error' in reply && answer.status >= 500) {
      logger.warn({ status: answer.status }, 'SMTP mail not accepted: the API could not store it');
    }
    return reply;
  }

  server.on('error', (err) => logger.warn({ err }, 'SMTP connection error'));
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.server.off('error', onError);
      resolve();
    });
  });
  const { port } = server.server.address() as { port: number };
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    address: `${host}:${port}`,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
