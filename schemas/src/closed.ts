/**
 * Every object of the API is closed. What it is given: a property it does not know is refused
 * (400), never passed over, so a misspelt option fails loudly instead of silently doing the
 * default. What it answers: a property the schema does not declare is never sent (Fastify's
 * serializer leaves it out), so nothing internal leaks through a row or object passed whole.
 */
import Type, { type TObject, type TObjectOptions, type TProperties } from 'typebox';

export function Closed<P extends TProperties>(properties: P, options: TObjectOptions = {}): TObject<P> {
  return Type.Object(properties, { ...options, additionalProperties: false });
}
