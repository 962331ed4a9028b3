import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { parse } from 'yaml';
import { help, type SendGridError } from '../../domain/sendgrid-compat/errors.ts';
import { M } from '../../domain/sendgrid-compat/messages.ts';

/**
 * SendGrid's own OpenAPI description of the mail/send request, vendored in `spec/sendgrid/`: the
 * SendGrid-compatible endpoint accepts the bodies it describes.
 */
export const SPEC_PATH = new URL('../../../spec/sendgrid/tsg_mail_v3.yaml', import.meta.url);

/** The request body schema of `POST /v3/mail/send`, compiled with ajv (JSON Schema 2020-12). */
export function compileSpecSchema(specText: string) {
  const spec = parse(specText);
  const operation = spec?.paths?.['/v3/mail/send']?.post;
  let requestBody = operation?.requestBody;
  const ref: unknown = requestBody?.$ref;
  if (typeof ref === 'string') requestBody = resolvePointer(spec, ref);
  const schema = requestBody?.content?.['application/json']?.schema;
  if (!schema || typeof schema !== 'object') {
    throw new Error('the SendGrid spec has no JSON request schema for POST /v3/mail/send');
  }
  // The spec types the message-level `custom_args` as a string; SendGrid takes (and its own
  // libraries send) an object of string values, like `personalizations[].custom_args`.
  if (schema.properties?.custom_args) {
    schema.properties.custom_args = { ...schema.properties.custom_args, type: 'object' };
  }
  // `$ref`s point into `#/components/...`; carrying the components along lets ajv resolve them.
  const root = { ...schema, components: spec.components };
  const ajv = new Ajv2020({ strict: false, allErrors: true, verbose: true });
  // ajv-formats is CommonJS; its plugin is the module's `default` export.
  ajvFormats.default(ajv);
  return ajv.compile(root);
}

function resolvePointer(document: unknown, ref: string): unknown {
  let node: unknown = document;
  for (const part of ref.replace(/^#\//, '').split('/')) {
    node = (node as Record<string, unknown> | undefined)?.[
      part.replace(/~1/g, '/').replace(/~0/g, '~')
    ];
  }
  return node;
}

export function schemaError(error: ErrorObject): SendGridError {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = error.params as Record<string, unknown>;
  let message: string;
  switch (error.keyword) {
    case 'type':
      message = `Invalid type. Expected: ${String(params.type)}, given: ${jsonType(error.data)}.`;
      break;
    case 'required':
      path.push(String(params.missingProperty));
      message = `${String(params.missingProperty)} is required.`;
      break;
    case 'format':
      message =
        params.format === 'email' ? M.invalidAddress : `Does not match format ${params.format}.`;
      break;
    case 'minLength':
      message = `String length must be greater than or equal to ${params.limit}.`;
      break;
    case 'maxLength':
      message = `String length must be less than or equal to ${params.limit}.`;
      break;
    case 'minItems':
      message = `Array must have at least ${params.limit} items.`;
      break;
    case 'maxItems':
      message = `Array must have at most ${params.limit} items.`;
      break;
    case 'maxProperties':
      message = `Must have at most ${params.limit} properties.`;
      break;
    case 'uniqueItems':
      message = `Array items[${params.j},${params.i}] must be unique.`;
      break;
    case 'enum':
      message = `${path.at(-1) ?? '(root)'} must be one of the following: ${(
        params.allowedValues as unknown[]
      )
        .map((v) => JSON.stringify(v))
        .join(', ')}.`;
      break;
    default:
      message = error.message ?? 'Bad Request';
  }
  const field = path.length > 0 ? path.join('.') : null;
  return { message, field, help: field ? help(field) : null };
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}
