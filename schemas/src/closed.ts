/**
 * What the API is given is closed: a property it does not know is refused (400), never passed
 * over, so a misspelt option fails loudly instead of silently doing the default.
 */
import Type, { type TObject, type TObjectOptions, type TProperties } from 'typebox';

export function Closed<P extends TProperties>(properties: P, options: TObjectOptions = {}): TObject<P> {
  return Type.Object(properties, { ...options, additionalProperties: false });
}
