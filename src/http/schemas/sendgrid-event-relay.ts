import { Type } from '@sinclair/typebox';

/** A unit's SendGrid event relay, as every answer shows it (never the private key). */
export const EventRelaySchema = Type.Object({
  unit: Type.String(),
  url: Type.String({ description: "Where the unit's SendGrid events are posted" }),
  public_key: Type.String({
    description:
      "The verification key (base64 DER, ECDSA P-256), as SendGrid shows its own: put it where the application kept SendGrid's",
  }),
  pending: Type.Integer({ description: 'Events waiting to be posted' }),
  failed: Type.Integer({ description: 'Events given up after the retry window' }),
  created_at: Type.String(),
  updated_at: Type.String(),
});

export const RelayUnitQuerySchema = Type.Object(
  {
    unit: Type.Optional(
      Type.String({
        maxLength: 63,
        description: "Admin keys: the unit's name; default: the key's own unit",
      }),
    ),
  },
  { additionalProperties: false },
);
