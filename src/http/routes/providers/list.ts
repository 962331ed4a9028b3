import { Type } from '@sinclair/typebox';
import { WORKER_GONE_AFTER_MS } from '../../../domain/provider-circuit.ts';
import { workersProviderMismatch } from '../../../domain/provider-health.ts';
import type { ProviderView } from '../../deps.ts';
import { presentMismatch, summarise } from '../../present/provider.ts';
import type { TypedApp } from '../../typed-app.ts';

const ProviderViewFields = {
  state: Type.String({ description: 'healthy, throttled, unavailable, paused, or unknown' }),
  reason: Type.Union([Type.String(), Type.Null()]),
  since: Type.Union([Type.String(), Type.Null()]),
  next_check_at: Type.Union([Type.String(), Type.Null()]),
};

const ProviderMismatchSchema = Type.Union(
  [
    Type.Object({
      configured: Type.String({ description: "this API process's TEGAMI_PROVIDER" }),
      workers: Type.Array(
        Type.Object({
          provider: Type.String(),
          count: Type.Integer({ description: 'workers sending through it' }),
        }),
      ),
      detail: Type.String(),
    }),
    Type.Null(),
  ],
  {
    description:
      "Non-null when workers that reported in the last 10 s send through another provider than this API process's TEGAMI_PROVIDER: this process then shows the state of a provider they do not use, and held_reason names the mismatch. Give every process the same TEGAMI_PROVIDER.",
  },
);

const ProviderListSchema = Type.Object({
  workers_provider_mismatch: ProviderMismatchSchema,
  unconfirmed_messages: Type.Optional(
    Type.Integer({
      description:
        'messages sent in the last 48 hours, longer than TEGAMI_UNCONFIRMED_AFTER_S ago, with no delivery event: accepted, then silence',
    }),
  ),
  providers: Type.Array(
    Type.Object({
      name: Type.String(),
      ...ProviderViewFields,
      credentials: Type.Union(
        [
          Type.Object({
            result: Type.String({ description: 'valid, refused or unverified' }),
            detail: Type.String(),
            checked_at: Type.String(),
          }),
          Type.Null(),
        ],
        {
          description:
            'What the provider said about the credentials when the worker started (SendGrid: GET /v3/scopes); null for providers without credentials',
        },
      ),
      accepted: Type.Integer({ description: 'accepted sends since the workers started' }),
      failed: Type.Integer({
        description:
          'failed attempts since the workers started: the provider refused the message (a 400), or failed itself (see provider_failed)',
      }),
      provider_failed: Type.Integer({
        description:
          'of failed, the attempts that failed on the provider side (outage, timeout, throttling, account): what the provider_failing alert counts',
      }),
      recent_errors: Type.Array(
        Type.Object({
          error_class: Type.String(),
          count: Type.Integer(),
          last_at: Type.String(),
          last_detail: Type.Union([Type.String(), Type.Null()]),
        }),
      ),
      workers: Type.Array(
        Type.Object({
          worker: Type.String(),
          ...ProviderViewFields,
          updated_at: Type.String(),
          stale: Type.Boolean({
            description: 'no heartbeat for 3 s: the worker is late and may be gone',
          }),
        }),
      ),
    }),
  ),
});

/**
 * `GET /v1/providers`: each provider's health as the running workers see it, so an operator can
 * tell at a glance whether a failure is ours, the message's or the provider's.
 */
export function registerListProviders(app: TypedApp, view: ProviderView, clock: () => number) {
  app.get(
    '/providers',
    {
      schema: {
        tags: ['providers'],
        summary: "Each provider's state: healthy, throttled, unavailable or paused, and why",
        response: { 200: ProviderListSchema },
      },
    },
    async () => {
      const now = clock();
      // Reports of workers whose heartbeat stopped are of processes that are gone: a killed
      // worker must not haunt the view (nor keep a provider listed that nothing sends through).
      // A stored time that is not a number counts as gone too.
      const reports = (await view.health.list()).filter(
        (r) => now - r.updatedAt <= WORKER_GONE_AFTER_MS,
      );
      const names = [...new Set([view.configured, ...reports.map((r) => r.provider)])];
      return {
        providers: names.map((name) => summarise(name, reports, now)),
        workers_provider_mismatch: presentMismatch(
          workersProviderMismatch(reports, view.configured, now),
        ),
        ...(view.countUnconfirmed
          ? { unconfirmed_messages: await view.countUnconfirmed(now) }
          : {}),
      };
    },
  );
}
