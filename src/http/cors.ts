// CORS for the routes browsers may call cross-origin by design (the agent authorization server, /mcp):
// only the origins in CORS_ALLOWED_ORIGINS, never with cookies. Register inside the encapsulated plugin
// of those routes; everywhere else no CORS header is ever sent.
import fastifyCors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'

export async function allowCors (app: FastifyInstance, options: { allowedOrigins: readonly string[], exposedHeaders?: string[], allowedHeaders?: string[] }): Promise<void> {
  // No origin allowed (the default): no CORS hook on every request, and a preflight finds no route, as a
  // browser from any origin must be refused anyway.
  if (options.allowedOrigins.length === 0) return
  const allowed = new Set(options.allowedOrigins)
  await app.register(fastifyCors, {
    origin: (origin, callback) => { callback(null, origin !== undefined && allowed.has(origin)) },
    credentials: false,
    ...(options.exposedHeaders === undefined ? {} : { exposedHeaders: options.exposedHeaders }),
    ...(options.allowedHeaders === undefined ? {} : { allowedHeaders: options.allowedHeaders }),
    maxAge: 600,
  })
}
