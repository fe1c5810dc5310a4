/**
 * Generated requests for every route a server lists (schemas/src/route-list.ts): its params,
 * query and body well-formed or not, sent with one of the credentials a test names (good,
 * someone else's, bad, none).
 */
import fc from 'fast-check';
import type { ListedRoute } from '@godwit/schemas/route-list';
import { type Hints, type JsonSchema, junkParam, malformed, wellFormed } from './schema-arbitrary.js';

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
  /** the route it was made for, as registered */
  route: string;
}

/** raw path segments no encoder would make: Fastify must answer them, not trip on them */
const RAW_SEGMENTS = fc.constantFrom('%zz', '%', '%2e%2e', '..', '%00', '%E0%A4%A');

function paramArb(name: string, schema: JsonSchema | undefined, hints: Hints): fc.Arbitrary<string> {
  const good = (schema ? wellFormed(schema, hints, name) : (hints[name] ?? junkParam)).map((v) => encodeURIComponent(String(v)));
  return fc.oneof({ arbitrary: good, weight: 5 }, { arbitrary: junkParam.map(encodeURIComponent), weight: 2 }, { arbitrary: RAW_SEGMENTS, weight: 1 });
}

function queryString(q: unknown): string {
  if (typeof q !== 'object' || q === null) return q === undefined ? '' : `?${encodeURIComponent(String(q))}`;
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) sp.append(k, typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  const s = sp.toString();
  return s ? `?${s}` : '';
}

/** a watch stream lasts until its caller leaves: it is left to its own tests, as websockets are */
function notFollowing(q: unknown): unknown {
  if (typeof q !== 'object' || q === null || !('follow' in q)) return q;
  return Object.fromEntries(Object.entries(q).filter(([k]) => k !== 'follow'));
}

function queryArb(schema: JsonSchema | undefined, hints: Hints, endless: boolean): fc.Arbitrary<string> {
  if (!schema) return fc.oneof({ arbitrary: fc.constant(''), weight: 4 }, { arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 2 }).map(queryString), weight: 1 });
  return fc
    .oneof({ arbitrary: wellFormed(schema, hints), weight: 3 }, { arbitrary: malformed(schema, hints), weight: 2 })
    .map((q) => queryString(endless ? notFollowing(q) : q));
}

interface Body {
  payload?: string | Buffer;
  type?: string;
}

function bodyArb(schema: JsonSchema | undefined, hints: Hints): fc.Arbitrary<Body> {
  const raw: fc.Arbitrary<Body>[] = [
    fc.constant({}),
    fc.uint8Array({ maxLength: 64 }).map((b) => ({ payload: Buffer.from(b), type: 'application/octet-stream' })),
    fc.string({ maxLength: 32 }).map((s) => ({ payload: s, type: 'application/json' })),
    fc.string({ maxLength: 32 }).map((s) => ({ payload: s, type: 'text/plain' })),
  ];
  const json = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Body> => a.map((v) => ({ payload: JSON.stringify(v) ?? 'null', type: 'application/json' }));
  if (!schema) return fc.oneof(...raw);
  return fc.oneof(
    { arbitrary: json(wellFormed(schema, hints)), weight: 5 },
    { arbitrary: json(malformed(schema, hints)), weight: 4 },
    { arbitrary: fc.oneof(...raw), weight: 1 },
  );
}

export interface RequestSpace {
  routes: readonly ListedRoute[];
  /** authorization headers to send, good and bad; undefined sends none */
  auth: fc.Arbitrary<string | undefined>;
  hints: Hints;
  /** more headers a route may get (a local caller's account, ...) */
  extraHeaders?: fc.Arbitrary<Record<string, string>>;
}

/** one request to one of the routes (websocket routes are left to their own suite) */
export function requestArb(space: RequestSpace): fc.Arbitrary<FuzzRequest> {
  const routes = space.routes.filter((r) => !r.websocket);
  // each route's arbitrary is built once: building it per request costs more than sending it
  return fc.oneof(...routes.map((r) => {
    const names = [...r.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
    const paramProps = ((r.schema?.params as JsonSchema | undefined)?.properties ?? {}) as Record<string, JsonSchema>;
    const params = fc.tuple(...names.map((n) => paramArb(n, paramProps[n], space.hints)));
    const hasBody = r.method !== 'GET' && r.method !== 'DELETE';
    return fc.record({
      params: names.length ? params : fc.constant([] as string[]),
      query: queryArb(r.schema?.querystring as JsonSchema | undefined, space.hints, ((r.schema as { produces?: string[] } | undefined)?.produces ?? []).includes('text/event-stream')),
      body: hasBody ? bodyArb(r.schema?.body as JsonSchema | undefined, space.hints) : fc.constant<Body>({}),
      auth: space.auth,
      extra: space.extraHeaders ?? fc.constant({}),
    }).map(({ params: values, query, body, auth, extra }) => {
      let i = 0;
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, () => values[i++]!);
      const headers: Record<string, string> = { ...extra };
      if (auth !== undefined) headers.authorization = auth;
      if (body.type) headers['content-type'] = body.type;
      return { method: r.method, url: path + query, headers, ...(body.payload !== undefined ? { payload: body.payload } : {}), route: `${r.method} ${r.url}` };
    });
  }));
}
