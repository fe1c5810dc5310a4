/**
 * Requests' parts from the JSON schemas the servers check them with: well-formed values (each
 * as the schema allows, with plausible values where a property name asks for them: a known
 * node, a process that exists) and malformed ones (a property too many, one missing, one of the
 * wrong type, a value past its bounds, anything at all).
 */
import fc from 'fast-check';

export type JsonSchema = Record<string, unknown>;

/** plausible values by property name, tried as often as what the schema alone allows */
export type Hints = Record<string, fc.Arbitrary<unknown>>;

/** the longest string generated where the schema allows longer: requests stay small and fast */
const GENERATED_STRING_MAX = 24;

const junkText = fc.oneof(
  fc.string({ maxLength: GENERATED_STRING_MAX }),
  fc.string({ unit: 'binary', maxLength: GENERATED_STRING_MAX }),
  fc.constantFrom('', '..', '../../etc/passwd', '%00', '\u0000', '-1', '1e999', 'NaN', '__proto__', 'constructor', '9'.repeat(40)),
);

function asNumber(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function stringArb(s: JsonSchema): fc.Arbitrary<string> {
  const min = asNumber(s.minLength) ?? 0;
  const max = Math.max(min, Math.min(asNumber(s.maxLength) ?? GENERATED_STRING_MAX, GENERATED_STRING_MAX));
  if (typeof s.pattern === 'string') {
    const re = new RegExp(s.pattern);
    return fc.stringMatching(re).filter((v) => v.length >= min && v.length <= (asNumber(s.maxLength) ?? Infinity));
  }
  return fc.string({ minLength: min, maxLength: max });
}

function numberArb(s: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const min = asNumber(s.minimum) ?? (asNumber(s.exclusiveMinimum) !== undefined ? asNumber(s.exclusiveMinimum)! + (integer ? 1 : 1e-6) : undefined);
  const max = asNumber(s.maximum) ?? asNumber(s.exclusiveMaximum);
  if (integer) return fc.integer({ min: min ?? -(2 ** 31), max: max ?? 2 ** 31 });
  return fc.double({ min: min ?? -1e6, max: max ?? 1e6, noNaN: true, noDefaultInfinity: true });
}

/** a value the schema accepts (names in `hints` get plausible values as often as generated ones) */
export function wellFormed(schema: JsonSchema, hints: Hints = {}, name?: string): fc.Arbitrary<unknown> {
  const own = ownWellFormed(schema, hints);
  const hint = name !== undefined ? hints[name] : undefined;
  return hint ? fc.oneof(hint, own) : own;
}

function ownWellFormed(s: JsonSchema, hints: Hints): fc.Arbitrary<unknown> {
  if ('const' in s) return fc.constant(s.const);
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
  if (Array.isArray(s.anyOf)) return fc.oneof(...(s.anyOf as JsonSchema[]).map((x) => wellFormed(x, hints)));
  if (Array.isArray(s.allOf)) {
    return fc.tuple(...(s.allOf as JsonSchema[]).map((x) => wellFormed(x, hints))).map((parts) => Object.assign({}, ...parts) as unknown);
  }
  switch (s.type) {
    case 'string':
      return stringArb(s);
    case 'integer':
      return numberArb(s, true);
    case 'number':
      return numberArb(s, false);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(wellFormed(s.items as JsonSchema, hints), {
        minLength: asNumber(s.minItems) ?? 0,
        maxLength: Math.max(asNumber(s.minItems) ?? 0, Math.min(asNumber(s.maxItems) ?? 4, 4)),
      });
    case 'object':
      return objectArb(s, hints);
    default:
      return fc.anything();
  }
}

function objectArb(s: JsonSchema, hints: Hints): fc.Arbitrary<Record<string, unknown>> {
  const props = (s.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((s.required ?? []) as string[]);
  const record = s.patternProperties as Record<string, JsonSchema> | undefined;
  const fixed = fc.record(
    Object.fromEntries(Object.entries(props).map(([k, v]) => [k, wellFormed(v, hints, k)])),
    { requiredKeys: [...required] },
  );
  if (!record) return fixed;
  const [keyPattern, valueSchema] = Object.entries(record)[0]!;
  const entries = fc.dictionary(fc.stringMatching(new RegExp(keyPattern)).filter((k) => k.length <= GENERATED_STRING_MAX), wellFormed(valueSchema!, hints), {
    maxKeys: 3,
  });
  return fc.tuple(fixed, entries).map(([a, b]) => ({ ...b, ...a }));
}

/** a value the schema most likely refuses: well-formed but for one thing, or anything at all */
export function malformed(schema: JsonSchema, hints: Hints = {}): fc.Arbitrary<unknown> {
  const props = Object.keys((schema.properties ?? {}) as object);
  const required = (schema.required ?? []) as string[];
  const base = wellFormed(schema, hints).filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v));
  const variants: fc.Arbitrary<unknown>[] = [
    fc.anything(),
    junkText,
    fc.tuple(base, fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !props.includes(k)), fc.jsonValue()).map(([v, k, x]) => ({ ...v, [k]: x })),
  ];
  if (required.length > 0) {
    variants.push(fc.tuple(base, fc.constantFrom(...required)).map(([v, k]) => Object.fromEntries(Object.entries(v).filter(([key]) => key !== k))));
  }
  if (props.length > 0) {
    variants.push(fc.tuple(base, fc.constantFrom(...props), fc.oneof(fc.anything(), junkText)).map(([v, k, x]) => ({ ...v, [k]: x })));
    const long = props.filter((p) => typeof ((schema.properties as Record<string, JsonSchema>)[p]!.maxLength) === 'number');
    if (long.length > 0) {
      variants.push(
        fc.tuple(base, fc.constantFrom(...long)).map(([v, k]) => ({ ...v, [k]: 'x'.repeat(((schema.properties as Record<string, JsonSchema>)[k]!.maxLength as number) + 1) })),
      );
    }
  }
  return fc.oneof(...variants);
}

/** a path parameter or query value that is not what the route wants */
export const junkParam = junkText;
