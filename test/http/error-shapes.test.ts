// Every error kind, rendered by the real error handler through a route with response schemas: no member the
// handler writes (reason, claims, login_url, request_id) is dropped by the serializer, for any status.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config/index.ts'
import { REASONS, relayError, type Reason } from '../../src/errors.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { errorResponses } from '../../src/routes/schemas.ts'
import { createServices } from '../../src/services.ts'

let app: FastifyInstance

beforeAll(async () => {
  const config = loadConfig({
    TENANT_ID: '11111111-1111-1111-1111-111111111111',
    CLIENT_ID: '22222222-2222-2222-2222-222222222222',
    CLIENT_SECRET: 'secret',
    SCOPE: 'api://22222222-2222-2222-2222-222222222222/user_impersonation',
    PUBLIC_URL: 'https://relay.example',
  })
  app = await buildApp({ services: await createServices({ config, logger: createLogger('silent') }) })
  app.get('/v1/test-error/:reason', { config: { auth: 'public' }, schema: { response: { 200: { type: 'object' }, ...errorResponses } } }, async (request) => {
    const { reason } = request.params as { reason: Reason }
    throw relayError(reason, `about ${reason}`, { extra: { claims: 'eyJhIjoxfQ' }, intent: { kind: 'consent', scopes: ['api://x/y'] } })
  })
  app.get('/boom', { config: { auth: 'public' } }, async () => { throw new Error('secret internals at /srv/x.ts:12') })
  await app.ready()
})
afterAll(async () => { await app?.close() })

describe('error shapes', () => {
  it.each(Object.keys(REASONS) as Reason[])('%s keeps every member', async (reason) => {
    const res = await app.inject({ method: 'GET', url: `/v1/test-error/${reason}` })
    const [status, code] = REASONS[reason]
    expect(res.statusCode).toBe(status)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(res.json()).toEqual({
      error: code,
      reason,
      error_description: `about ${reason}`,
      claims: 'eyJhIjoxfQ',
      login_url: 'https://relay.example/auth/login?prompt=consent&consent_scopes=api%3A%2F%2Fx%2Fy',
      request_id: expect.any(String),
    })
    if (status === 401) expect(res.headers['www-authenticate']).toMatch(/^Bearer resource_metadata="https:\/\/relay\.example\/\.well-known\/oauth-protected-resource\/v1"/)
  })

  it('an unexpected exception is a 500 with no stack and no message of its own', async () => {
    const res = await app.inject({ method: 'GET', url: '/boom' })
    expect(res.statusCode).toBe(500)
    expect(res.json()).toEqual({ error: 'server_error', reason: 'internal', error_description: 'The relay failed to handle the request.', request_id: expect.any(String) })
    expect(res.body).not.toContain('secret internals')
  })

  it('a route that does not declare how it authenticates stops the app from starting', async () => {
    const config = loadConfig({ TENANT_ID: '11111111-1111-1111-1111-111111111111', CLIENT_ID: '22222222-2222-2222-2222-222222222222', CLIENT_SECRET: 's', SCOPE: 'api://22222222-2222-2222-2222-222222222222/x' })
    const other = await buildApp({ services: await createServices({ config, logger: createLogger('silent') }) })
    try {
      expect(() => other.get('/forgot-auth', async () => ({}))).toThrow(/must declare config.auth/)
    } finally {
      await other.close()
    }
  })
})
