import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { MESSAGE_ID, MESSAGE_ID_IN_WORDS } from '../domain/ids.ts';
import type { ErrorDetail } from './errors.ts';

/**
 * An invalid value with more nodes (objects, arrays, strings, ...) than this gets only its first
 * problem reported. Listing every problem (Ajv's allErrors) costs memory and time in proportion to
 * the value, so it is done only for values small enough; the largest message the schema allows
 * (1,000 addresses in each of to, cc and bcc, 100 headers, metadata and attachments) has about
 * 10,000 nodes.
 */
export const MAX_NODES_TO_LIST_EVERY_PROBLEM = 20_000;

/**
 * An object schema's fields that a client may send by mistake because another route answers
 * them (`PUT /v1/units/{id}` given back what `GET` answered), each with what to do instead:
 * said in place of "is not a known field". Validates nothing; it is an OpenAPI extension, so the
 * document shows it too.
 */
export const NOT_TAKEN_HERE = 'x-not-taken-here';

// Unknown fields are an error, not silently dropped; types are not coerced; nothing is added.
// `verbose` gives each error its schema, so a value-or-null field can say what the value must be
// (nullableByPath).
const ajvOptions: Options = {
  removeAdditional: false,
  coerceTypes: false,
  useDefaults: false,
  verbose: true,
  keywords: [NOT_TAKEN_HERE],
};
const stopAtFirstProblem = new Ajv({ ...ajvOptions, allErrors: false });
const listEveryProblem = new Ajv({ ...ajvOptions, allErrors: true });

export type SchemaCheck =
  | { valid: true }
  /** `errors`: every problem, or only the first when listing them all is not worth it. */
  | { valid: false; errors: ErrorObject[] };

/**
 * A JSON-schema check that stops early: a valid value is checked once, stopping at the first
 * problem; only an invalid value of at most MAX_NODES_TO_LIST_EVERY_PROBLEM nodes is checked a
 * second time to list every problem. `listProblems: false` skips that second pass (a batch whose
 * answer already lists as many problems as it will show).
 */
export function compileSchemaCheck(
  schema: object,
): (value: unknown, listProblems?: boolean) => SchemaCheck {
  const firstProblem = stopAtFirstProblem.compile(schema);
  let everyProblem: ValidateFunction | undefined;
  return (value, listProblems = true) => {
    if (firstProblem(value)) return { valid: true };
    const first = firstProblem.errors ?? [];
    // A list or map over its size limit is reported alone: it may be huge, and it is the thing
    // to fix first.
    const oversized = first.some((e) => e.keyword === 'maxItems' || e.keyword === 'maxProperties');
    if (!listProblems || oversized || !hasAtMostNodes(value, MAX_NODES_TO_LIST_EVERY_PROBLEM)) {
      return { valid: false, errors: first };
    }
    everyProblem ??= listEveryProblem.compile(schema);
    everyProblem(value);
    return { valid: false, errors: everyProblem.errors ?? first };
  };
}

/**
 * Fastify's validator compiler for every route: request parts are checked by compileSchemaCheck,
 * so a hostile body cannot make validation build millions of errors.
 */
export function boundedValidatorCompiler({ schema }: { schema: object }) {
  const check = compileSchemaCheck(schema);
  const validate = (value: unknown): boolean => {
    const result = check(value);
    validate.errors = result.valid ? null : result.errors;
    return result.valid;
  };
  validate.errors = null as ErrorObject[] | null;
  return validate;
}

/** Whether `value` has at most `limit` nodes; stops counting once past the limit. */
function hasAtMostNodes(value: unknown, limit: number): boolean {
  const pending: unknown[] = [value];
  let seen = 1;
  while (pending.length > 0) {
    const node = pending.pop();
    if (node === null || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      seen += node.length;
      if (seen > limit) return false;
      for (const child of node) pending.push(child);
    } else {
      for (const key in node) {
        if (++seen > limit) return false;
        pending.push((node as Record<string, unknown>)[key]);
      }
    }
  }
  return true;
}

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
  errors: (Pick<ErrorObject, 'instancePath' | 'keyword' | 'params' | 'message' | 'schema'> &
    Partial<Pick<ErrorObject, 'parentSchema'>>)[],
  prefix = '',
  /** The errors are a query string's: a list there is a parameter given several times. */
  inQuery = false,
): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  const choices = choicesByPath(errors);
  const explainedDeeper = anyOfExplainedDeeper(errors);
  const nullables = nullableByPath(errors, explainedDeeper);
  for (const error of errors) {
    if (explainedDeeper.has(error.instancePath) && ALTERNATIVES.has(error.keyword)) continue;
    let field = fieldPath(error.instancePath, prefix);
    let message = error.message ?? 'is invalid';
    const params = error.params as Record<string, unknown>;
    const choice = choices.get(error.instancePath) ?? nullables.get(error.instancePath);
    if (choice !== undefined) {
      // One line for a choice of values (or a value or null) instead of Ajv's one per
      // alternative.
      message = choice;
    } else if (error.keyword === 'required') {
      field = fieldPath(`${error.instancePath}/${String(params.missingProperty)}`, prefix);
      message = 'is required';
    } else if (error.keyword === 'additionalProperties') {
      const name = String(params.additionalProperty);
      field = fieldPath(`${error.instancePath}/${name}`, prefix);
      message = notTakenHere(error.parentSchema, name) ?? 'is not a known field';
    } else if (error.keyword === 'pattern' && PATTERNS_IN_WORDS.has(String(params.pattern))) {
      message = PATTERNS_IN_WORDS.get(String(params.pattern)) as string;
    } else if (error.keyword === 'maxItems' && inQuery) {
      // A list in a query is a parameter given several times (`metadata=a=1&metadata=b=2`).
      message = `may be given at most ${String(params.limit)} times`;
    } else if (error.keyword === 'uniqueItems') {
      // Ajv says "must NOT have duplicate items (items ## 1 and 0 are identical)".
      const [a, b] = [Number(params.j), Number(params.i)].sort((x, y) => x - y);
      message = `must not repeat a value (items ${a} and ${b} are the same)`;
    }
    const key = `${field}\n${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    details.push({ field: field || '(body)', message });
  }
  return details;
}

/** What the object's schema says to do instead of sending `name`, if it names it. */
function notTakenHere(objectSchema: unknown, name: string): string | undefined {
  if (objectSchema === null || typeof objectSchema !== 'object') return undefined;
  const hints = (objectSchema as Record<string, unknown>)[NOT_TAKEN_HERE];
  if (hints === null || typeof hints !== 'object' || !Object.hasOwn(hints, name)) return undefined;
  const hint = (hints as Record<string, unknown>)[name];
  return typeof hint === 'string' ? hint : undefined;
}

/**
 * Patterns of the schemas said in words: Ajv's own message quotes the regular expression
 * (`must match pattern "^msg_[0-9A-Z]{26}$"`). The words are those of every other refusal of
 * such a value.
 */
const PATTERNS_IN_WORDS = new Map([[MESSAGE_ID.source, `must be ${MESSAGE_ID_IN_WORDS}`]]);

/** Ajv's keywords for "not this alternative", left out where a problem inside explains it. */
const ALTERNATIVES = new Set(['anyOf', 'type', 'const', 'enum']);

/** Ajv's keywords for a problem inside an object, reported at the object's path. */
const INSIDE_OBJECT = new Set(['additionalProperties', 'required']);

/** Ajv's keywords for a list or map of the wrong size, reported at its own path. */
const LIST_SIZE = new Set(['maxItems', 'minItems', 'maxProperties', 'minProperties']);

/**
 * Paths where a value matched one alternative of an `anyOf` by its type but is wrong inside
 * (`"alerts": {"delay_s": "x"}` against an object or null): the problem inside is reported, not
 * Ajv's "must be null" and "must match a schema in anyOf" about the alternatives it was not.
 */
function anyOfExplainedDeeper(
  errors: Pick<ErrorObject, 'instancePath' | 'keyword'>[],
): Set<string> {
  const paths = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'anyOf') continue;
    const inside = `${e.instancePath}/`;
    const explained = errors.some(
      (other) =>
        other.instancePath.startsWith(inside) ||
        // An unknown or missing field is reported at the object's own path.
        (other.instancePath === e.instancePath && INSIDE_OBJECT.has(other.keyword)) ||
        // So is a list of too many items: it is a list, so "must be string" is no news
        // (`metadata` given 200 times where a value or a list of 10 is taken).
        (other.instancePath === e.instancePath && LIST_SIZE.has(other.keyword)),
    );
    if (explained) paths.add(e.instancePath);
  }
  return paths;
}

/**
 * A field whose schema is a choice of constants (and perhaps null), e.g. `"high" | "normal" |
 * "bulk"`: Ajv reports each alternative ("must be equal to constant" three times, "must be null",
 * "must match a schema in anyOf"). Such a field gets one message naming the values instead.
 */
function choicesByPath(
  errors: Pick<ErrorObject, 'instancePath' | 'keyword' | 'params'>[],
): Map<string, string> {
  const byPath = new Map<string, Pick<ErrorObject, 'keyword' | 'params'>[]>();
  for (const e of errors) byPath.set(e.instancePath, [...(byPath.get(e.instancePath) ?? []), e]);
  const choices = new Map<string, string>();
  for (const [path, group] of byPath) {
    const values = group.flatMap((e) => {
      const params = e.params as { allowedValue?: unknown; allowedValues?: unknown[] };
      if (e.keyword === 'const') return [JSON.stringify(params.allowedValue)];
      if (e.keyword === 'enum') return (params.allowedValues ?? []).map((v) => JSON.stringify(v));
      return [];
    });
    const onlyAlternatives = group.every(
      (e) =>
        e.keyword === 'const' ||
        e.keyword === 'enum' ||
        e.keyword === 'anyOf' ||
        e.keyword === 'type',
    );
    if (values.length < 2 || !onlyAlternatives) continue;
    const orNull = group.some(
      (e) => e.keyword === 'type' && (e.params as { type?: unknown }).type === 'null',
    )
      ? ' or null'
      : '';
    choices.set(path, `must be one of ${values.join(', ')}${orNull}`);
  }
  return choices;
}

type SchemaNode = {
  type?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
};

/**
 * A field that takes a value or null (`Type.Union([Type.Integer(…), Type.Null()])`) and got
 * neither: Ajv reports the value's problem ("must be integer"), "must be null" and "must match a
 * schema in anyOf". Such a field gets one line saying what it takes, from its schema: "must be a
 * whole number from 1 to 10,000,000, or null". A value of the right type that is wrong inside (an
 * object with a bad field) is explained deeper instead.
 */
function nullableByPath(
  errors: Pick<ErrorObject, 'instancePath' | 'keyword' | 'params' | 'message' | 'schema'>[],
  explainedDeeper: Set<string>,
): Map<string, string> {
  const nullables = new Map<string, string>();
  for (const e of errors) {
    if (e.keyword !== 'anyOf' || explainedDeeper.has(e.instancePath)) continue;
    const alternatives = Array.isArray(e.schema) ? (e.schema as SchemaNode[]) : [];
    const isNull = (a: SchemaNode) => a?.type === 'null';
    const values = alternatives.filter((a) => !isNull(a));
    if (alternatives.length !== 2 || values.length !== 1) continue;
    const own = errors.filter(
      (o) =>
        o.instancePath === e.instancePath &&
        o.keyword !== 'anyOf' &&
        !(o.keyword === 'type' && (o.params as { type?: unknown }).type === 'null'),
    );
    // The description covers the type and the bounds; any other problem is said as Ajv says it.
    const described =
      (own.every((o) => DESCRIBED.has(o.keyword)) && describeValue(values[0] as SchemaNode)) ||
      [...new Set(own.map((o) => o.message ?? 'is invalid'))].join('; ');
    nullables.set(e.instancePath, `${described}, or null`);
  }
  return nullables;
}

/** The keywords describeValue puts in words. */
const DESCRIBED = new Set(['type', 'minimum', 'maximum', 'minLength', 'maxLength']);

/** Keywords that constrain nothing. */
const WORDS_ONLY = new Set(['type', 'description', 'title', 'examples', 'default']);

/** What a schema of one plain type takes, in words; undefined for what it cannot say simply. */
function describeValue(schema: SchemaNode): string | undefined {
  const n = (value: number) => value.toLocaleString('en-US');
  const { minimum: min, maximum: max } = schema;
  const range =
    min !== undefined && max !== undefined
      ? ` from ${n(min)} to ${n(max)}`
      : min !== undefined
        ? ` of at least ${n(min)}`
        : max !== undefined
          ? ` of at most ${n(max)}`
          : '';
  const keys = Object.keys(schema).filter((k) => !WORDS_ONLY.has(k));
  const plain = (allowed: string[]) => keys.every((k) => allowed.includes(k));
  switch (schema.type) {
    case 'integer':
      return plain(['minimum', 'maximum']) ? `must be a whole number${range}` : undefined;
    case 'number':
      return plain(['minimum', 'maximum']) ? `must be a number${range}` : undefined;
    case 'boolean':
      return plain([]) ? 'must be true or false' : undefined;
    case 'string': {
      if (!plain(['minLength', 'maxLength'])) return undefined;
      const { minLength = 0, maxLength } = schema;
      if (maxLength === undefined)
        return minLength > 0
          ? `must be text of at least ${n(minLength)} characters`
          : 'must be text';
      return `must be text of ${n(minLength)} to ${n(maxLength)} characters`;
    }
    case 'object':
      return 'must be an object';
    case 'array':
      return 'must be an array';
    default:
      return undefined;
  }
}
