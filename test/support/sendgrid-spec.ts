import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { parse } from 'yaml';

/**
 * The request schema of `POST /v3/mail/send`, straight from SendGrid's official OpenAPI file, as an
 * independent check of what our provider sends (it shares no code with the simulator's validator).
 */
export function officialMailSendValidator(): (body: unknown) => string[] {
  const spec = parse(
    readFileSync(new URL('../../spec/sendgrid/tsg_mail_v3.yaml', import.meta.url), 'utf8'),
  );
  const body = spec.paths['/v3/mail/send'].post.requestBody;
  const requestBody = body.$ref ? spec.components.requestBodies[body.$ref.split('/').pop()] : body;
  const schema = requestBody.content['application/json'].schema;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (ajvFormats as unknown as (a: Ajv2020) => void)(ajv);
  ajv.addSchema({ components: spec.components }, 'spec');
  const validate = ajv.compile(rewriteRefs(schema) as object);
  return (body) =>
    validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

/** `#/components/...` refs point into the whole document; make them point into the added schema. */
function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [
        k,
        k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `spec${v}` : rewriteRefs(v),
      ]),
    );
  }
  return node;
}
