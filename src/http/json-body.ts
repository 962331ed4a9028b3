import { isUtf8 } from 'node:buffer';
import { ApiError } from './errors.ts';
import { fieldPath } from './validation-errors.ts';

/**
 * JSON request bodies: parsing, with a clear answer for keys that could pollute prototypes (the
 * canonical hash for Idempotency-Key comparisons is in src/domain/canonical-json.ts). Everything
 * here walks values iteratively, so a body nested 10,000 levels deep (valid JSON) cannot overflow
 * the stack.
 */

// A quick test on the raw text, as in secure-json-parse: bodies that cannot contain the keys
// (nearly all) are not walked at all. JSON escapes like "\u005f_proto__" spell the same key.
const SUSPECT_PROTO =
  /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/;
const SUSPECT_CONSTRUCTOR =
  /"(?:c|\\u0063)(?:o|\\u006[Ff])(?:n|\\u006[Ee])(?:s|\\u0073)(?:t|\\u0074)(?:r|\\u0072)(?:u|\\u0075)(?:c|\\u0063)(?:t|\\u0074)(?:o|\\u006[Ff])(?:r|\\u0072)"\s*:/;

// JSON can spell half of a surrogate pair ("\ud800"). Such text has no UTF-8 form: PostgreSQL
// refuses it (the request failed with a 503) and SQLite would store U+FFFD instead. Only bodies
// with a surrogate escape are walked to look for one.
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// A number beyond ±1.8e308 parses as ±Infinity, which JSON cannot hold: stored and sent on it
// would become null (a SendGrid `asm.group_id` of 1e309 was accepted, then refused by SendGrid).
// Only such a number has 309 digits in a row or a three-digit exponent; bodies with neither
// (nearly all) are not walked. A run is tried only from its first digit (the look-behind): tried
// from every digit, 10 MiB of 308-digit runs took 4.9 s.
const HUGE_NUMBER = /(?<!\d)\d{309}|[eE]\+?\d{3}/;

/**
 * A JSON body as it came, in bytes: text that is not UTF-8 is `malformed_json` (decoding it
 * anyway would put U+FFFD in place of each bad byte, and store that), the rest as parseJsonBody.
 */
export function parseJsonBytes(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  if (!isUtf8(bytes)) {
    throw new ApiError('malformed_json', 'malformed JSON: the body is not valid UTF-8');
  }
  return parseJsonBody(bytes.toString('utf8'));
}

/**
 * Parses a JSON body. Malformed JSON is `malformed_json`. Valid JSON that cannot be taken as it is
 * gets `invalid_request` naming the field: a `__proto__` key anywhere, or a `constructor` key
 * holding an object with a `prototype` (code that copies such an object key by key would change
 * prototypes, and no field of this API has those names), text with a lone surrogate, or a number
 * too large for a double.
 */
export function parseJsonBody(text: string): unknown {
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // a UTF-8 byte order mark
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new ApiError('malformed_json', `malformed JSON: ${(error as Error).message}`);
  }
  if (SUSPECT_PROTO.test(json) || SUSPECT_CONSTRUCTOR.test(json)) {
    refuseFirst(value, (key, child) =>
      key === '__proto__'
        ? 'the key "__proto__" is not allowed'
        : key === 'constructor' &&
            child !== null &&
            typeof child === 'object' &&
            Object.hasOwn(child, 'prototype')
          ? 'a "constructor" key holding a "prototype" is not allowed'
          : null,
    );
  }
  if (HUGE_NUMBER.test(json)) {
    const huge = 'is a number too large to represent (beyond ±1.7976931348623157e308)';
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new ApiError('invalid_request', `the body ${huge}`);
    }
    refuseFirst(value, (_key, child) =>
      typeof child === 'number' && !Number.isFinite(child) ? huge : null,
    );
  }
  if (SURROGATE_ESCAPE.test(json)) {
    const unpaired =
      'has a lone UTF-16 surrogate (\\ud800-\\udfff not in a pair); text must be valid Unicode';
    if (typeof value === 'string' && LONE_SURROGATE.test(value)) {
      throw new ApiError('invalid_request', `the body ${unpaired}`);
    }
    refuseFirst(value, (key, child) =>
      LONE_SURROGATE.test(key) || (typeof child === 'string' && LONE_SURROGATE.test(child))
        ? unpaired
        : null,
    );
  }
  return value;
}

/**
 * Walks every key and value of `root` (iteratively: depth does not matter) and throws a 400 for
 * the first entry `problem` names, with the entry's field in `details`.
 */
function refuseFirst(root: unknown, problem: (key: string, value: unknown) => string | null) {
  const pending: { value: unknown; pointer: string }[] = [{ value: root, pointer: '' }];
  for (let item = pending.pop(); item; item = pending.pop()) {
    const { value, pointer } = item;
    if (value === null || typeof value !== 'object') continue;
    for (const [key, child] of Object.entries(value)) {
      const childPointer = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      const message = problem(key, child);
      if (message !== null) {
        const field = fieldPath(childPointer);
        throw new ApiError('invalid_request', `${field}: ${message}`, [{ field, message }]);
      }
      pending.push({ value: child, pointer: childPointer });
    }
  }
}
