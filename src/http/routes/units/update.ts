import { Type } from '@sinclair/typebox';
import type { AlertsService } from '../../../domain/alerts/service.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { actorOf, scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';
import { presentUnitWithAlerts, UnitWithAlertsSchema } from './settings-schema.ts';

const UpdateBodySchema = Type.Object(
  {
    slack_webhook_url: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 2048 }), Type.Null()], {
        description:
          "this unit's Slack incoming-webhook URL: its alerts go there instead of TEGAMI_SLACK_WEBHOOK_URL; null removes it",
      }),
    ),
    alerts: Type.Optional(
      Type.Union([
        Type.Object(
          {
            delay_s: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 86_400 })),
            dead_letters: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000 })),
            unconfirmed: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000 })),
            muted: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    ),
  },
  { additionalProperties: false },
);

/** `PUT /v1/units/{id}`: where a unit's alerts go and its own thresholds (admin keys only). */
export function registerUpdateUnit(app: TypedApp, alerts: AlertsService): void {
  app.put(
    '/units/:id',
    {
      schema: {
        tags: ['units'],
        summary:
          "Set a unit's Slack channel and alert thresholds (admin keys only); absent fields stay, null clears",
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        body: UpdateBodySchema,
        response: {
          200: UnitWithAlertsSchema,
          400: ErrorSchema,
          403: ErrorSchema,
          404: ErrorSchema,
        },
      },
    },
    async (request) => {
      const body = request.body;
      const a = body.alerts;
      const { unit, settings } = await alerts.updateSettings(
        scopeOf(request),
        actorOf(request),
        request.params.id,
        {
          ...(body.slack_webhook_url !== undefined
            ? { slackWebhookUrl: body.slack_webhook_url }
            : {}),
          ...(a === undefined
            ? {}
            : {
                overrides:
                  a === null
                    ? null
                    : {
                        ...(a.delay_s !== undefined ? { delayMs: a.delay_s * 1000 } : {}),
                        ...(a.dead_letters !== undefined ? { deadLetters: a.dead_letters } : {}),
                        ...(a.unconfirmed !== undefined ? { unconfirmed: a.unconfirmed } : {}),
                        ...(a.muted !== undefined ? { muted: a.muted } : {}),
                      },
              }),
        },
      );
      return presentUnitWithAlerts(unit, settings);
    },
  );
}
