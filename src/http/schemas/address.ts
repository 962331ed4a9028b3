import { Type } from '@sinclair/typebox';
import { strict } from './parts.ts';

export const AddressSchema = Type.Object(
  {
    email: Type.String({ maxLength: 320, description: 'An email address, e.g. guest@example.com' }),
    name: Type.Optional(Type.String({ maxLength: 256 })),
  },
  strict,
);
