import type { FastifyInstance } from 'fastify';

/** `GET /openapi.json`: the OpenAPI document @fastify/swagger builds from the routes' schemas. */
export function registerOpenApiDocument(app: FastifyInstance): void {
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
