/**
 * Every TEGAMI_* environment variable name, in one list: what Tegami reads, and what is set
 * beside it without being its configuration. A set variable on neither list is a misspelling
 * (TEGAMI_PORT for TEGAMI_HTTP_PORT) that would otherwise be ignored without a word: `tegami
 * serve`, `api` and `worker` warn about it at start, and `tegami check` shows it.
 * test/variable-names.test.ts fails when src/ or bin/ names a TEGAMI_* variable missing here.
 */

/** The configuration (config.ts), in the order of docs/configuration.md's table. */
export const CONFIGURATION_VARIABLES = [
  'TEGAMI_DATABASE_URL',
  'TEGAMI_DATABASE_POOL_SIZE',
  'TEGAMI_RETENTION_DAYS',
  'TEGAMI_UNSENT_AFTER_S',
  'TEGAMI_AUDIT_RETENTION_DAYS',
  'TEGAMI_HTTP_HOST',
  'TEGAMI_HTTP_PORT',
  'TEGAMI_SHUTDOWN_DRAIN_S',
  'TEGAMI_SMTP_PORT',
  'TEGAMI_SMTP_HOST',
  'TEGAMI_SMTP_TLS_CERT_FILE',
  'TEGAMI_SMTP_TLS_KEY_FILE',
  'TEGAMI_SMTP_TLS_IMPLICIT',
  'TEGAMI_SMTP_ALLOW_INSECURE_AUTH',
  'TEGAMI_SMTP_MAX_CLIENTS',
  'TEGAMI_SMTP_MAX_CLIENTS_PER_ADDRESS',
  'TEGAMI_SMTP_AUTH_TIMEOUT_S',
  'TEGAMI_SMTP_DATA_TIMEOUT_S',
  'TEGAMI_PROVIDER',
  'TEGAMI_LOG_LEVEL',
  'TEGAMI_BOOTSTRAP_API_KEY',
  'TEGAMI_ADMIN_EMAIL',
  'TEGAMI_ADMIN_PASSWORD',
  'TEGAMI_CONSOLE_SECURE_COOKIES',
  'TEGAMI_TRUSTED_PROXIES',
  'TEGAMI_RETRY_MAX_ATTEMPTS',
  'TEGAMI_RETRY_BASE_DELAY_MS',
  'TEGAMI_RETRY_MAX_DELAY_MS',
  'TEGAMI_WORKER_CONCURRENCY',
  'TEGAMI_RESULT_COMMIT',
  'TEGAMI_POSTGRES_PREPARE',
  'TEGAMI_SQLITE_FSYNC',
  'TEGAMI_WORKER_HAND_OFF',
  'TEGAMI_WORKER_BATCH_SIZE',
  'TEGAMI_WORKER_LEASE_MS',
  'TEGAMI_WORKER_POLL_INTERVAL_MS',
  'TEGAMI_SERVE_THREADS',
  'TEGAMI_PROVIDER_THREAD',
  'TEGAMI_SANDBOX_OUTBOX_LIMIT',
  'TEGAMI_BATCH_MAX_RECIPIENTS',
  'TEGAMI_UNIT_RATE_LIMIT_PER_MIN',
  'TEGAMI_PROVIDER_FAILURE_THRESHOLD',
  'TEGAMI_PROVIDER_PROBE_INTERVAL_MS',
  'TEGAMI_PROVIDER_PAUSE_CHECK_MS',
  'TEGAMI_SENDGRID_API_KEY',
  'TEGAMI_SENDGRID_BASE_URL',
  'TEGAMI_SENDGRID_CONNECT_TIMEOUT_MS',
  'TEGAMI_SENDGRID_TIMEOUT_MS',
  'TEGAMI_SENDGRID_MAX_CONCURRENCY',
  'TEGAMI_SENDGRID_MAX_RPS',
  'TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY',
  'TEGAMI_SENDGRID_WEBHOOK_INSECURE',
  'TEGAMI_SENDGRID_WEBHOOK_MAX_AGE_S',
  'TEGAMI_UNCONFIRMED_AFTER_S',
  'TEGAMI_UNKNOWN_OUTCOME_WAIT_S',
  'TEGAMI_EVENT_MATCH_WINDOW_S',
  'TEGAMI_SUPPRESS_BLOCKS',
  'TEGAMI_WEBHOOKS_ALLOW_PRIVATE',
  'TEGAMI_WEBHOOKS_RETRY_BASE_MS',
  'TEGAMI_WEBHOOKS_RETRY_WINDOW_S',
  'TEGAMI_WEBHOOKS_POLL_INTERVAL_MS',
  'TEGAMI_WEBHOOKS_TIMEOUT_MS',
  'TEGAMI_WEBHOOKS_CONCURRENCY',
  'TEGAMI_WEBHOOKS_MAX_PER_ENDPOINT',
  'TEGAMI_METRICS_TOKEN',
  'TEGAMI_METRICS_PORT',
  'TEGAMI_METRICS_CACHE_S',
  'TEGAMI_PUBLIC_URL',
  'TEGAMI_SLACK_WEBHOOK_URL',
  'TEGAMI_ALERT_WEBHOOK_URL',
  'TEGAMI_ALERT_WEBHOOK_SECRET',
  'TEGAMI_HEARTBEAT_URL',
  'TEGAMI_ALERT_DELAY_S',
  'TEGAMI_ALERT_THROTTLED_S',
  'TEGAMI_ALERT_ERROR_RATE_PERCENT',
  'TEGAMI_ALERT_ERROR_RATE_MIN_ATTEMPTS',
  'TEGAMI_ALERT_WINDOW_S',
  'TEGAMI_ALERT_DEAD_LETTERS',
  'TEGAMI_ALERT_SILENT_WEBHOOK_S',
  'TEGAMI_ALERT_UNCONFIRMED',
  'TEGAMI_ALERT_FOR_S',
  'TEGAMI_ALERT_REPEAT_S',
  'TEGAMI_ALERT_INTERVAL_MS',
  'TEGAMI_ALERT_RETENTION_DAYS',
] as const;

/** Read by one command as its input, not configuration: `tegami users set-password`'s. */
export const INPUT_VARIABLES = ['TEGAMI_NEW_PASSWORD'] as const;

/**
 * Set beside Tegami but not read by it, so never warned about: TEGAMI_KEY holds an API key in the
 * docs' shell examples (a shell that ran them starts Tegami too); the others are read by the test
 * suite and the scripts (test/README.md).
 */
export const OTHER_VARIABLES = [
  'TEGAMI_KEY',
  'TEGAMI_CHROMIUM',
  'TEGAMI_UPDATE_OPENAPI',
  'TEGAMI_FIXTURE_FAIL',
  'TEGAMI_SCREENSHOTS_PORT',
] as const;

/** The test runner's own variables (scripts/run-tests.js, test/helpers.ts), known by prefix. */
export const TEST_VARIABLE_PREFIX = 'TEGAMI_TEST_';

const KNOWN: ReadonlySet<string> = new Set([
  ...CONFIGURATION_VARIABLES,
  ...INPUT_VARIABLES,
  ...OTHER_VARIABLES,
]);

/** Whether a TEGAMI_* name is on the lists above (or the test runner's). */
export function isKnownVariable(name: string): boolean {
  return KNOWN.has(name) || name.startsWith(TEST_VARIABLE_PREFIX);
}

export interface UnknownVariable {
  name: string;
  /** The known names it is close to, best first; empty when none is. */
  suggestions: string[];
}

/**
 * Set TEGAMI_* variables that Tegami does not know, with the names each may have meant. An empty
 * one is left out: empty is unset for every variable (docs/configuration.md). Only names are
 * looked at: a value may be a secret (TEGAMI_SENDGRID_APIKEY=SG.…) and is never shown.
 */
export function unknownVariables(env: Record<string, string | undefined>): UnknownVariable[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('TEGAMI_') && env[name] !== '' && !isKnownVariable(name))
    .sort()
    .map((name) => ({ name, suggestions: closeNames(name) }));
}

/** One line about an unknown variable, as the start warning and `tegami check` show it. */
export function describeUnknownVariable({ name, suggestions }: UnknownVariable): string {
  const meant =
    suggestions.length === 0
      ? ' (docs/configuration.md lists the variables)'
      : `; did you mean ${suggestions.slice(0, -1).join(', ')}${suggestions.length > 1 ? ' or ' : ''}${suggestions.at(-1)}?`;
  return `${name} is not a Tegami variable and is ignored${meant}`;
}

/**
 * What other servers call a bare PORT or HOST is Tegami's API listener (SMTP and metrics ports are
 * named as such): by words alone all three *_PORT variables would be as close.
 */
const BARE_NAMES: Record<string, string> = {
  PORT: 'TEGAMI_HTTP_PORT',
  HOST: 'TEGAMI_HTTP_HOST',
  DB_URL: 'TEGAMI_DATABASE_URL',
  DATABASE: 'TEGAMI_DATABASE_URL',
};

/** At most this many names are suggested; more would be no suggestion. */
const MOST_SUGGESTIONS = 3;

/**
 * The configuration variables `name` is closest to: first by spelling (a typo, a missing or extra
 * underscore, a swapped pair of letters), else by words (every word of `name` in the known name,
 * the fewest other words first: TEGAMI_SENDGRID_KEY is TEGAMI_SENDGRID_API_KEY).
 */
function closeNames(name: string): string[] {
  const wanted = name.toUpperCase().slice('TEGAMI_'.length);
  const bare = BARE_NAMES[wanted];
  if (bare) return [bare];
  const known = CONFIGURATION_VARIABLES.map((full) => ({
    full,
    rest: full.slice('TEGAMI_'.length),
  }));

  // Within a few edits for a long name, one for a short one: more would match unrelated names.
  const allowed = wanted.length <= 6 ? 1 : wanted.length <= 14 ? 2 : 3;
  const bySpelling = best(
    known.map(({ full, rest }) => ({ full, cost: editDistance(wanted, rest) })),
    allowed,
  );
  if (bySpelling.length > 0) return bySpelling;

  const words = wanted.split('_').filter((w) => w !== '');
  const byWords = known.map(({ full, rest }) => {
    const theirs = rest.split('_');
    const all = words.every((w) => theirs.some((t) => sameWord(w, t)));
    return { full, cost: all ? theirs.length - words.length : Number.POSITIVE_INFINITY };
  });
  return words.length === 0 ? [] : best(byWords, Number.POSITIVE_INFINITY);
}

/** The names of least cost, when they are few enough to be worth naming. */
function best(scored: { full: string; cost: number }[], most: number): string[] {
  const least = Math.min(...scored.map((s) => s.cost));
  if (!(least <= most) || !Number.isFinite(least)) return [];
  const found = scored.filter((s) => s.cost === least).map((s) => s.full);
  return found.length <= MOST_SUGGESTIONS ? found : [];
}

/** Equal, or (for words of four letters or more) one edit apart: WEBHOOK and WEBHOOKS. */
function sameWord(a: string, b: string): boolean {
  return a === b || (Math.min(a.length, b.length) >= 4 && editDistance(a, b) <= 1);
}

/** Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push(Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  }
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i] as number[];
      const above = rows[i - 1] as number[];
      const replace = a[i - 1] === b[j - 1] ? 0 : 1;
      let cost = Math.min(
        (above[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (above[j - 1] as number) + replace,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        cost = Math.min(cost, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = cost;
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}
