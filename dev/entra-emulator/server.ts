// The Fastify HTTPS server: plugins, one error handler for Entra errors, and the routes.
import cookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import Fastify, { LogController, type FastifyError } from 'fastify'
import { pino } from 'pino'
import type { PemCredential } from './ca.ts'
import type { EmulatorContext } from './context.ts'
import { EntraError } from './errors.ts'
import { registerAdminConsentRoute } from './routes/admin-consent.ts'
import { ConsentTickets, registerAuthorizeRoutes } from './routes/authorize.ts'
import { registerControlRoutes, type ControlActions } from './routes/control.ts'
import { sendEntraError, traceOf, type EmulatorApp } from './routes/http.ts'
import { registerMetadataRoutes } from './routes/metadata.ts'
import { registerTokenRoute } from './routes/token.ts'

export async function buildEmulatorServer (context: EmulatorContext, tls: PemCredential, actions: ControlActions): Promise<EmulatorApp> {
  const app = Fastify({
    https: { key: tls.privateKeyPem, cert: tls.certPem },
    loggerInstance: context.log ?? pino({ level: 'silent' }),
    // Request lines would carry codes and hints; the routes log what matters, without secrets.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
  })
  await app.register(formbody)
  await app.register(cookie)
  // Other bodies are accepted and ignored, so a JSON token request fails as Entra's does (no grant_type).
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, _body, done) => { done(null, undefined) })

  app.setErrorHandler((err: FastifyError | EntraError, request, reply) => {
    if (err instanceof EntraError) {
      context.log?.info({ url: request.routeOptions.url, error: err.error, code: err.code, correlationId: traceOf(request).correlationId }, 'request refused')
      return sendEntraError(request, reply, err, context.url)
    }
    const status = err.statusCode ?? 500
    if (status < 500) return reply.code(status).send({ error: 'invalid_request', error_description: err.message })
    context.log?.error({ err }, 'emulator error')
    return reply.code(500).send({ error: 'server_error', error_description: 'The Entra emulator failed to process the request.' })
  })
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not_found', error_description: 'No such endpoint in the Entra emulator.' }))

  registerMetadataRoutes(app, context)
  const tickets = new ConsentTickets(() => context.clock.now())
  registerAuthorizeRoutes(app, context, tickets)
  registerAdminConsentRoute(app, context, tickets)
  registerTokenRoute(app, context)
  registerControlRoutes(app, context, actions)
  return app
}
