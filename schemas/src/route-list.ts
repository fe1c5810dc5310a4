/**
 * The routes a server answers, with their schemas, as Fastify registers them: tests go over
 * every route (the fuzz suite) without a list of their own that a new route could miss. Not in
 * the package's index, so that the CLI never loads Fastify's types.
 */
import type { FastifyInstance, FastifySchema } from 'fastify';

export interface ListedRoute {
  method: string;
  /** as registered, with its :params */
  url: string;
  schema: FastifySchema | undefined;
  /** the route answers a websocket upgrade, not a request */
  websocket: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    routeList: readonly ListedRoute[];
  }
}

/** Call before any route is registered: the list fills as they are. */
export function listRoutes(app: FastifyInstance): void {
  const list: ListedRoute[] = [];
  app.decorate('routeList', list);
  app.addHook('onRoute', (r) => {
    // @fastify/websocket's option: this package does not load that plugin's types
    for (const method of [r.method].flat()) {
      if (method !== 'HEAD') list.push({ method, url: r.url, schema: r.schema, websocket: (r as { websocket?: unknown }).websocket === true });
    }
  });
}
