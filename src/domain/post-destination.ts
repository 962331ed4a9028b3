/**
 * What rules a URL out as a place to post to, whatever its host resolves to: checked wherever
 * someone gives Tegami a URL to post to (a status webhook endpoint, the SendGrid event relay, a
 * unit's Slack channel, the alert URLs of the environment), so a destination nothing can ever
 * reach is refused when it is given instead of failing every post after it.
 */

/**
 * Port 0 is no port a server listens on: a connection to it fails at once (the operating system
 * answers "connection refused" or "address not available"). The URL parser takes it, and the
 * ports above 65535 it refuses already.
 */
export function unreachablePortProblem(url: URL): string | null {
  return url.port === '0' ? 'must not name port 0: nothing can listen on it' : null;
}
