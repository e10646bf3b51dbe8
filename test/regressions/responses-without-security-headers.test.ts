// `/docs` and JSON responses carried no CSP, no frame-ancestors and no nosniff.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

it.each(['/healthz', '/v1/me', '/openapi.json', '/nope', '/.well-known/oauth-protected-resource', '/', '/docs/', '/docs/static/index.html'])('%s carries nosniff, a same-origin referrer policy and a CSP forbidding framing', async (path) => {
  const res = await fetch(`${stack.relayUrl}${path}`, { redirect: 'manual' })
  expect(res.headers.get('x-content-type-options')).toBe('nosniff')
  expect(res.headers.get('referrer-policy')).toBe('same-origin')
  expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
})

it('the docs page gets a CSP that lets Swagger UI run (its own scripts only) and nothing from elsewhere', async () => {
  const res = await fetch(`${stack.relayUrl}/docs/static/index.html`)
  expect(res.status).toBe(200)
  const csp = res.headers.get('content-security-policy') ?? ''
  expect(csp).toMatch(/script-src 'self'/)
  expect(csp).not.toContain('validator.swagger.io')
  expect(csp).not.toContain('https:')
  expect(csp).not.toContain('upgrade-insecure-requests')
})

it('JSON answers allow nothing to load', async () => {
  const res = await fetch(`${stack.relayUrl}/healthz`)
  expect(res.headers.get('content-security-policy')).toContain("default-src 'none'")
})
