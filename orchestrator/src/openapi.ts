/** The API's OpenAPI description, made from the route schemas, at GET /v1/openapi.json. */
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: { title: 'godwit orchestrator', version: '0.1.0', description: 'MOSIX-style process migration on CRIU' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
}

/** served without a token, so tools can discover the API */
export function openApiRoute(app: FastifyInstance): void {
  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
