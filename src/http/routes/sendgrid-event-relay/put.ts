import { Type } from '@sinclair/typebox';
import {
  generateRelayKeyPair,
  relayMadeWith,
} from '../../../domain/sendgrid-compat/event-relay.ts';
import { putUnitEventRelay } from '../../../domain/sendgrid-compat/unit-event-relay.ts';
import type { SendGridEventRelayOptions } from '../../deps.ts';
import { invalidField } from '../../errors.ts';
import { setLocation, withLocation } from '../../location.ts';
import { presentEventRelay } from '../../present/sendgrid-event-relay.ts';
import { EventRelaySchema } from '../../schemas/sendgrid-event-relay.ts';
import { actorOf } from '../../scope.ts';
import { relayUnit } from '../../sendgrid/relay-unit.ts';
import type { TypedApp } from '../../typed-app.ts';

const PutBodySchema = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: "The application's SendGrid Event Webhook receiver (http or https)",
    }),
    unit: Type.Optional(
      Type.String({
        maxLength: 63,
        description: "Admin keys: the unit's name; default: the key's own unit",
      }),
    ),
  },
  { additionalProperties: false },
);

/**
 * `PUT /v1/sendgrid/event-relay`: sets the unit's old Event Webhook URL. The first call makes the
 * unit's relay and key pair (201, with `Location`); later calls change the URL and keep the key
 * pair (200), so the receiver's key stays valid.
 */
export function registerPutEventRelay(app: TypedApp, options: SendGridEventRelayOptions) {
  app.put(
    '/sendgrid/event-relay',
    {
      schema: {
        body: PutBodySchema,
        tags: ['sendgrid'],
        summary: "Relay the unit's SendGrid delivery events to its old Event Webhook URL",
        description:
          "Events of mail sent through POST /v3/mail/send are posted in SendGrid's format and batches, signed with SendGrid's scheme (ECDSA P-256) with the unit's key pair: `public_key` is the verification key. Retried as status webhooks are. 201 when this made the unit's relay (with `Location: /v1/sendgrid/event-relay?unit={name}`), 200 when it changed the URL of the one it had (the key pair stays).",
        response: {
          200: EventRelaySchema,
          201: withLocation(EventRelaySchema, '/v1/sendgrid/event-relay?unit={name}'),
        },
      },
    },
    async (request, reply) => {
      let parsed: URL;
      try {
        parsed = new URL(request.body.url);
      } catch {
        throw invalidField('url', 'is not a valid URL');
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        throw invalidField('url', 'must be an http or https URL');
      }
      if (parsed.username || parsed.password) {
        throw invalidField('url', 'must not contain a user name or password');
      }
      const unit = await relayUnit(request, options.operations, request.body.unit, 'unit');
      const refused = await options.checkDestination(parsed.toString());
      if (refused) throw invalidField('url', refused);
      const keys = generateRelayKeyPair();
      const relay = await putUnitEventRelay(
        options.store,
        actorOf(request),
        { unitId: unit.id, url: parsed.toString(), keys },
        options.clock(),
      );
      if (relayMadeWith(relay, keys)) {
        void reply.code(201);
        setLocation(reply, `/v1/sendgrid/event-relay?unit=${encodeURIComponent(unit.name)}`);
      }
      return presentEventRelay(relay, unit.name, await options.store.counts(unit.id));
    },
  );
}
