import { Type } from '@sinclair/typebox';
import {
  type AlertsService,
  UNIT_SETTING_LIMITS as LIMITS,
} from '../../../domain/alerts/service.ts';
import { presentUnit } from '../../present/unit.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { PrioritySchema } from '../../schemas/priority.ts';
import { UnitSchema } from '../../schemas/unit.ts';
import { actorOf, scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';
import { NOT_TAKEN_HERE } from '../../validation-errors.ts';

const UpdateBodySchema = Type.Object(
  {
    slack_webhook_url: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: LIMITS.urlLength }), Type.Null()], {
        description:
          "this unit's Slack incoming-webhook URL: its alerts go there instead of TEGAMI_SLACK_WEBHOOK_URL; null removes it",
      }),
    ),
    rate_limit_per_min: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: LIMITS.ratePerMinute }), Type.Null()], {
        description:
          'messages this unit may have accepted per minute (clock-minute windows, counted per API process); over it: 429. null removes it (TEGAMI_UNIT_RATE_LIMIT_PER_MIN applies)',
      }),
    ),
    default_priority: Type.Optional(
      Type.Union([PrioritySchema, Type.Null()], {
        description:
          "the priority of this unit's mail that sets none and whose API key has no default; null: normal",
      }),
    ),
    alerts: Type.Optional(
      Type.Union([
        Type.Object(
          {
            delay_s: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.delaySeconds })),
            dead_letters: Type.Optional(Type.Integer({ minimum: 0, maximum: LIMITS.count })),
            unconfirmed: Type.Optional(Type.Integer({ minimum: 0, maximum: LIMITS.count })),
            muted: Type.Optional(Type.Boolean()),
          },
          {
            additionalProperties: false,
            [NOT_TAKEN_HERE]: {
              thresholds:
                'is how GET answers the thresholds; PUT takes them in alerts itself: alerts.delay_s, alerts.dead_letters, alerts.unconfirmed, alerts.muted',
              slack_webhook_url:
                'is how GET answers the Slack channel (masked); PUT takes the whole URL as slack_webhook_url, beside alerts',
            },
          },
        ),
        Type.Null(),
      ]),
    ),
  },
  {
    additionalProperties: false,
    // A unit read with GET and sent back changed: say what PUT takes instead of its fields.
    [NOT_TAKEN_HERE]: {
      id: 'is read only: the unit is named in the path',
      name: 'is read only: a unit keeps the name it was created with',
      created_at: 'is read only',
    },
  },
);

/** `PUT /v1/units/{id}`: where a unit's alerts go, its own thresholds and its sending limit (admin keys only). */
export function registerUpdateUnit(
  app: TypedApp,
  alerts: AlertsService,
  /** Called with the unit's id after a change, so this process's cached limit goes at once. */
  onChanged: (unitId: string) => void = () => {},
): void {
  app.put(
    '/units/:id',
    {
      schema: {
        tags: ['units'],
        summary:
          "Set a unit's Slack channel, alert thresholds, sending limit and default priority (admin keys only); absent fields stay, null clears",
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        body: UpdateBodySchema,
        response: {
          200: UnitSchema,
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
          ...(body.rate_limit_per_min !== undefined
            ? { rateLimitPerMin: body.rate_limit_per_min }
            : {}),
          ...(body.default_priority !== undefined
            ? { defaultPriority: body.default_priority }
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
      onChanged(unit.id);
      return presentUnit(unit, settings);
    },
  );
}
