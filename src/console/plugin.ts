import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyError, FastifyInstance } from 'fastify';
import { OperationsError } from '../domain/operations/errors.ts';
import { isDatabaseUnavailable } from '../domain/ports/database-unavailable.ts';
import type { ConsoleDeps } from './deps.ts';
import { html } from './html.ts';
import { page } from './layout.ts';
import { registerKeyPages } from './pages/admin/keys.ts';
import { registerUnitPages } from './pages/admin/units.ts';
import { registerUserPages } from './pages/admin/users.ts';
import { registerWebhookPages } from './pages/admin/webhooks/index.ts';
import { registerAlertsPage } from './pages/alerts.ts';
import { registerAuditPage } from './pages/audit.ts';
import { registerMessagePages } from './pages/messages.ts';
import { registerOverview } from './pages/overview.ts';
import { registerProviderProbe } from './pages/provider-probe.ts';
import { registerSignIn } from './pages/sign-in.ts';
import { registerSuppressionPages } from './pages/suppressions.ts';
import { registerUnsentPages } from './pages/unsent.ts';
import { ConsoleError, checkConsoleInput, guard } from './session.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Static files, read once at start from the package: nothing is fetched at run time. */
function staticFiles(): Map<string, { type: string; body: Buffer }> {
  const uplot = dirname(require.resolve('uplot/package.json'));
  const files: [string, string, string][] = [
    ['console.css', join(HERE, 'static/console.css'), 'text/css'],
    ['console.js', join(HERE, 'static/console.js'), 'text/javascript'],
    ['overview.js', join(HERE, 'static/overview.js'), 'text/javascript'],
    ['uplot.js', join(uplot, 'dist/uPlot.esm.js'), 'text/javascript'],
    ['uplot.css', join(uplot, 'dist/uPlot.min.css'), 'text/css'],
  ];
  return new Map(
    files.map(([name, path, type]) => [
      name,
      { type: `${type}; charset=utf-8`, body: readFileSync(path) },
    ]),
  );
}

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * The operations console at `/console`: server-rendered pages over the same domain services as
 * the API and the CLI. Registered by the composition root (src/cli/wire.ts) on the API's app.
 */
export async function registerConsole(app: FastifyInstance, deps: ConsoleDeps): Promise<void> {
  const files = staticFiles();
  await app.register(async (scope) => {
    // Forms post application/x-www-form-urlencoded; the API itself takes JSON only.
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 64 * 1024 },
      (_request, body, done) => {
        // A repeated field (a multiple select) becomes a list.
        const out: Record<string, string | string[]> = Object.create(null);
        for (const [k, v] of new URLSearchParams(body as string)) {
          const seen = out[k];
          out[k] = seen === undefined ? v : ([] as string[]).concat(seen, v);
        }
        done(null, out);
      },
    );
    // The console's pages are no part of the API's OpenAPI document.
    scope.addHook('onRoute', (route) => {
      route.schema = { ...(route.schema ?? {}), hide: true };
    });
    scope.decorateRequest('consoleState', null);
    scope.addHook('onRequest', async (_request, reply) => {
      reply.header('content-security-policy', CSP);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'same-origin');
      reply.header('x-frame-options', 'DENY');
      reply.header('cache-control', 'no-store');
    });
    // Who may do it first (401, 403), then whether what was sent is well formed (400): a viewer's
    // forged request is refused as forbidden whatever its body holds.
    scope.addHook('preHandler', guard(deps));
    scope.addHook('preHandler', async (request) => checkConsoleInput(request));
    scope.setErrorHandler((error: FastifyError, request, reply) => {
      let status = 500;
      let message = 'Something went wrong; the details are in the server log.';
      if (error instanceof ConsoleError) {
        status = error.status;
        message = error.message;
      } else if (error instanceof OperationsError) {
        status = { not_found: 404, invalid: 400, conflict: 409, exists: 409, forbidden: 403 }[
          error.kind
        ];
        message = [error.message, ...error.details.map((d) => `${d.field}: ${d.message}`)].join(
          '; ',
        );
      } else if (typeof error.statusCode === 'number' && error.statusCode < 500) {
        status = error.statusCode;
        message = error.message;
      } else if (isDatabaseUnavailable(error)) {
        // Not a bug, and not one stack trace per page (the overview polls): the API's outage
        // log says when the database went away and came back.
        status = 503;
        message =
          'The database is not answering right now; this page works again when it does. Mail already accepted is kept.';
        request.log.debug({ err: error }, 'console request failed: database unavailable');
      } else {
        request.log.error({ err: error }, 'console request failed');
      }
      const state = request.consoleState;
      if (
        (request.headers.accept ?? '').includes('application/json') ||
        request.url.split('?')[0]?.endsWith('.json')
      ) {
        return reply.code(status).send({ error: message });
      }
      return reply
        .code(status)
        .type('text/html')
        .send(
          page(
            status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Error',
            state,
            html`<p class="error" role="alert">${message}</p><p><a href="/console">Back to the console</a></p>`,
          ).text,
        );
    });

    scope.get(
      '/console/static/:file',
      { config: { permission: 'public' } },
      async (request, reply) => {
        const file = files.get((request.params as { file: string }).file);
        if (!file) return reply.code(404).type('text/plain').send('not found');
        return reply
          .type(file.type)
          .header('cache-control', 'public, max-age=3600')
          .send(file.body);
      },
    );
    registerSignIn(scope, deps);
    registerOverview(scope, deps);
    registerMessagePages(scope, deps);
    registerUnsentPages(scope, deps);
    registerSuppressionPages(scope, deps);
    registerKeyPages(scope, deps);
    registerUnitPages(scope, deps);
    registerUserPages(scope, deps);
    registerWebhookPages(scope, deps);
    registerAuditPage(scope, deps);
    registerAlertsPage(scope, deps);
    registerProviderProbe(scope, deps);
  });
}
