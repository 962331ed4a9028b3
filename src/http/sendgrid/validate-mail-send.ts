import { readFileSync } from 'node:fs';
import { isRelational, type SendGridError } from '../../domain/sendgrid-compat/errors.ts';
import { sendGridRules } from '../../domain/sendgrid-compat/rules.ts';
import { compileSpecSchema, SPEC_PATH, schemaError } from './spec-schema.ts';

/**
 * Validation of `POST /v3/mail/send` bodies as SendGrid does it: first the request schema from
 * SendGrid's own OpenAPI description (`spec/sendgrid/tsg_mail_v3.yaml`), then the rules SendGrid
 * applies beyond the schema, with SendGrid's messages, `field` paths and `help` links. Every
 * error found is returned, as SendGrid returns them all in one answer.
 */
export type MailSendValidator = (
  body: unknown,
  nowMs: number,
  reservedArgBytes: number,
) => SendGridError[];

/** Builds the validator: parses the spec and compiles its request schema once. */
export function createMailSendValidator(): MailSendValidator {
  const validateSchema = compileSpecSchema(readFileSync(SPEC_PATH, 'utf8'));
  return (body, nowMs, reservedArgBytes) => {
    const custom = sendGridRules(body, nowMs, reservedArgBytes);
    if (validateSchema(body)) return custom;
    const fromSchema = (validateSchema.errors ?? []).map(schemaError);
    // SendGrid reports one problem once: a rule's own message wins over the schema's words for
    // the same field, and (unless the rule is about a relation between parts, such as a
    // duplicate address) for the fields inside it or around it.
    const seen = new Set<string>();
    for (const error of fromSchema) {
      const field = error.field ?? '';
      const isCovered = custom.some((c) => {
        const at = c.field ?? '';
        if (at === field) return true;
        if (isRelational(c)) return false;
        return field.startsWith(`${at}.`) || at.startsWith(`${field}.`);
      });
      if (isCovered) continue;
      const key = `${field}\u0000${error.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      custom.push(error);
    }
    return custom;
  };
}
