import { randomUUID } from 'node:crypto'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyError } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifyFormbody from '@fastify/formbody'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import { RelayError, formatBearerChallenge } from './errors.ts'
import { safeUrlForLog } from './logger.ts'
import { resourceMetadataUrl } from './routes/well-known.ts'

export interface ReadinessCheck {
  name: string
  /** Resolves when usable; rejects with a message safe to show (no secrets). */
  check: () => Promise<void>
}

export interface AppDeps {
  config: Config
  logger: Logger
  /** HMAC key for signed cookies. */
  cookieSecret: Buffer
  readinessChecks?: ReadinessCheck[]
}

const REQUEST_ID = /^[\w.:-]{1,128}$/

/** Builds the relay's Fastify instance; never listens (server.ts does). */
export async function buildApp (deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id']
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID()
    },
    // Our own onResponse line logs the URL with query values masked (callback codes, states).
    logController: new LogController({ disableRequestLogging: true }),
    // Unknown body properties are refused, not silently dropped (Fastify's default removes them).
    ajv: { customOptions: { removeAdditional: false } },
  })

  await app.register(fastifyCookie, { secret: deps.cookieSecret.toString('base64url') })
  // JSON for the API; urlencoded for the page's sign-out form; nothing else (415).
  app.removeContentTypeParser('text/plain')
  await app.register(fastifyFormbody, { bodyLimit: 16 * 1024 })
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'obo-relay', version: '0.1.0', description: 'Calls Entra-protected MCP servers on behalf of the signed-in user.' },
      servers: [{ url: config.publicUrl.origin }],
      components: {
        securitySchemes: {
          entraBearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: `Entra access token for ${config.relayScope}` },
          session: { type: 'apiKey', in: 'cookie', name: 'obo_session', description: 'Browser session from /auth/login' },
        },
      },
    },
  })
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ method: request.method, url: safeUrlForLog(request.url), statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request')
  })

  const relayMetadataUrl = resourceMetadataUrl(config.publicUrl)
  app.setErrorHandler((err: FastifyError | RelayError, request, reply) => {
    if (err instanceof RelayError) {
      const level = err.statusCode >= 500 ? 'warn' : 'info'
      request.log[level]({ error: err.code, error_description: err.description, status: err.statusCode, ...err.logFields }, 'request refused')
      if (err.challenge !== undefined) reply.header('www-authenticate', formatBearerChallenge(err.challenge, relayMetadataUrl))
      for (const [name, value] of Object.entries(err.headers)) reply.header(name, value)
      return reply.code(err.statusCode).type('application/json').send({
        error: err.code,
        error_description: err.description,
        ...err.extra,
        request_id: request.id,
      })
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500
    if (status >= 500) {
      request.log.error({ err }, 'unhandled error')
      return reply.code(500).type('application/json').send({ error: 'server_error', error_description: 'The relay failed to handle the request.', request_id: request.id })
    }
    // Fastify's own 4xx (validation, bad JSON, body too large, media type) carry safe messages.
    const description = err.validation !== undefined
      ? `Invalid request: ${err.message}`
      : status === 413 ? 'Request body is too large.' : err.message
    return reply.code(status).type('application/json').send({ error: 'invalid_request', error_description: description, request_id: request.id })
  })

  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).type('application/json').send({ error: 'not_found', error_description: `No route for ${request.method} ${request.url.split('?')[0]}`, request_id: request.id })
  })

  app.get('/healthz', async () => ({ status: 'ok' }))

  const readinessChecks = deps.readinessChecks ?? []
  app.get('/readyz', async (_request, reply) => {
    const failures: Record<string, string> = {}
    await Promise.all(readinessChecks.map(async ({ name, check }) => {
      try {
        await check()
      } catch (err) {
        failures[name] = err instanceof Error ? err.message : 'not ready'
      }
    }))
    if (Object.keys(failures).length > 0) return reply.code(503).send({ status: 'unavailable', checks: failures })
    return { status: 'ready', checks: Object.fromEntries(readinessChecks.map(({ name }) => [name, 'ok'])) }
  })

  return app
}
