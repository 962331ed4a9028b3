/**
 * Defaults that code outside the configuration needs to know (the API's answers, the store's
 * windows). src/cli/config.ts reads every TEGAMI_* variable and falls back to these; a default
 * lives here or in config.ts, never in both.
 */

/**
 * An event normally beats its attempt's record by seconds at most; a day covers a database that
 * was slow or briefly away, while events that will never match (other applications' mail on the
 * same SendGrid account) stop costing work after it.
 */
export const DEFAULT_EVENT_MATCH_WINDOW_S = 24 * 3600;

/**
 * Recipients of one batch in all. Each of 1,000 messages may have 1,000, but a batch of a million
 * recipients held the API's event loop for seconds; 10,000 took about 0.3 s.
 */
export const DEFAULT_BATCH_MAX_RECIPIENTS = 10_000;
