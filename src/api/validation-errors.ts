import type { ErrorObject } from 'ajv';
import type { ErrorDetail } from './error-codes.ts';

/** `/to/0/email` → `to[0].email`, the field notation used in every error detail. */
export function fieldPath(pointer: string, prefix = ''): string {
  let path = prefix;
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^\d+$/.test(segment) ? `[${segment}]` : path === '' ? segment : `.${segment}`;
  }
  return path;
}

/** JSON-schema errors (from Fastify's or our own Ajv) as error details. */
export function schemaErrorDetails(
  errors: Pick<ErrorObject, 'instancePath' | 'keyword' | 'params' | 'message'>[],
  prefix = '',
): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    let field = fieldPath(error.instancePath, prefix);
    let message = error.message ?? 'is invalid';
    const params = error.params as Record<string, unknown>;
    if (error.keyword === 'required') {
      field = fieldPath(`${error.instancePath}/${String(params.missingProperty)}`, prefix);
      message = 'is required';
    } else if (error.keyword === 'additionalProperties') {
      field = fieldPath(`${error.instancePath}/${String(params.additionalProperty)}`, prefix);
      message = 'is not a known field';
    }
    const key = `${field}\n${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    details.push({ field: field || '(body)', message });
  }
  return details;
}
