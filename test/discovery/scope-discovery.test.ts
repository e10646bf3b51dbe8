import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig, type McpServerConfig } from '../../src/config.ts'
import { RelayError } from '../../src/errors.ts'
import { createSafeFetcher, type SafeFetcher } from '../../src/discovery/safe-fetch.ts'
import { ScopeDiscovery, createScopeDiscovery, type ScopeDiscoveryOptions } from '../../src/discovery/scope-discovery.ts'
import { ISSUER_POLICY, TENANT, prmDocument, sendJson, startServer, type TestServer } from './helpers.ts'

const PRM_PATH = '/.well-known/oauth-protected-resource/mcp'
let target: TestServer
let fetcher: SafeFetcher
let clock: number
let warnings: Array<{ fields: object, message: string }>
/** What the PRM endpoint answers: a document, or an HTTP status to fail with. */
let answer: { doc: unknown } | { status: number }
let delayMs: number

beforeEach(async () => {
  clock = 1_000_000
  warnings = []
  delayMs = 0
  target = await startServer((req, res) => {
    const reply = (): void => {
      if (req.url !== PRM_PATH) return sendJson(res, 404, {})
      if ('status' in answer) sendJson(res, answer.status, { error: 'boom' })
      else sendJson(res, 200, answer.doc)
    }
    if (delayMs > 0) setTimeout(reply, delayMs)
    else reply()
  })
  answer = { doc: prmDocument(`${target.origin}/mcp`) }
  fetcher = createSafeFetcher({ allowInsecureLoopback: true, allowedHosts: [] })
})
afterEach(async () => {
  await fetcher.close()
  await target.close()
})

function discovery (servers: McpServerConfig[] = [{ id: 'notes', url: new URL(`${target.origin}/mcp`) }], options: Partial<ScopeDiscoveryOptions> = {}): ScopeDiscovery {
  return new ScopeDiscovery({
    servers,
    fetcher,
    ...ISSUER_POLICY,
    prmCacheTtlSec: 60,
    now: () => clock,
    logger: { info: () => {}, warn: (fields, message) => warnings.push({ fields, message }) },
    ...options,
  })
}

const prmFetches = (): number => target.requests.filter((r) => r.path === PRM_PATH).length

describe('ScopeDiscovery', () => {
  it('uses configured scopes without any request', async () => {
    const scopes = discovery([{ id: 'notes', url: new URL(`${target.origin}/mcp`), scopes: ['api://notes-mcp/user_impersonation'] }])
    await expect(scopes.resolve('notes')).resolves.toEqual({ scopes: ['api://notes-mcp/user_impersonation'], source: 'config' })
    await scopes.warmUp()
    expect(scopes.status()).toEqual([{ id: 'notes', url: `${target.origin}/mcp`, resource: null, scopes: ['api://notes-mcp/user_impersonation'], scopeSource: 'config', status: 'ok' }])
    expect(target.connections()).toBe(0)
  })

  it('discovers from PRM and caches for the TTL', async () => {
    const scopes = discovery()
    expect(scopes.status()[0]?.status).toBe('pending')
    const expected = { scopes: ['api://notes-mcp/user_impersonation'], source: 'prm', resource: `${target.origin}/mcp`, prmUrl: `${target.origin}${PRM_PATH}` }
    await expect(scopes.resolve('notes')).resolves.toEqual(expected)
    clock += 59_000
    await expect(scopes.resolve('notes')).resolves.toEqual(expected)
    expect(prmFetches()).toBe(1)
    clock += 2_000
    answer = { doc: prmDocument(`${target.origin}/mcp`, { scopes_supported: ['api://notes-mcp'] }) }
    await expect(scopes.resolve('notes')).resolves.toMatchObject({ scopes: ['api://notes-mcp/.default'] })
    expect(prmFetches()).toBe(2)
    expect(scopes.status()[0]).toMatchObject({ status: 'ok', scopeSource: 'prm', scopes: ['api://notes-mcp/.default'], resource: `${target.origin}/mcp` })
  })

  it('serves the last good value when a refresh fails, and says so', async () => {
    const scopes = discovery()
    const good = await scopes.resolve('notes')
    clock += 61_000
    answer = { doc: prmDocument(`${target.origin}/mcp`, { authorization_servers: ['https://evil.example/t/v2.0'] }) }
    await expect(scopes.resolve('notes')).resolves.toEqual(good)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.message).toMatch(/last good value/)
    expect(scopes.status()[0]).toMatchObject({ status: 'ok', scopes: good.scopes, error: expect.stringMatching(/not an allowed Entra issuer/) })
    // Retries after the back-off, and recovers.
    answer = { doc: prmDocument(`${target.origin}/mcp`) }
    clock += 31_000
    await scopes.resolve('notes')
    expect(scopes.status()[0]).not.toHaveProperty('error')
  })

  it('shares one fetch among concurrent resolves', async () => {
    delayMs = 100
    const scopes = discovery()
    const results = await Promise.all(Array.from({ length: 10 }, () => scopes.resolve('notes')))
    expect(new Set(results.map((r) => r.scopes.join(' '))).size).toBe(1)
    expect(target.requests).toHaveLength(1)
  })

  it('fails a tool call with 502 and a clear reason while other servers keep working', async () => {
    answer = { doc: prmDocument(`${target.origin}/mcp`, { authorization_servers: ['https://evil.example/t/v2.0'] }) }
    const scopes = discovery([
      { id: 'bad', url: new URL(`${target.origin}/mcp`) },
      { id: 'fixed', url: new URL('https://fixed.example.test/mcp'), scopes: ['api://fixed/.default'] },
    ])
    const err = await scopes.resolve('bad').then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(RelayError)
    expect(err).toMatchObject({
      statusCode: 502,
      code: 'bad_gateway',
      description: 'Scope discovery for server \'bad\' failed: authorization server "https://evil.example/t/v2.0" is not an allowed Entra issuer',
    })
    await expect(scopes.resolve('fixed')).resolves.toMatchObject({ source: 'config' })
    expect(scopes.status().map((s) => [s.id, s.status])).toEqual([['bad', 'error'], ['fixed', 'ok']])
    // The failure is remembered briefly instead of refetched on every call.
    await expect(scopes.resolve('bad')).rejects.toMatchObject({ statusCode: 502 })
    expect(prmFetches()).toBe(1)
  })

  it('answers 404 for an unknown server', async () => {
    await expect(discovery().resolve('nope')).rejects.toMatchObject({ statusCode: 404, code: 'not_found' })
  })

  it('refetches after invalidate()', async () => {
    const scopes = discovery()
    await scopes.resolve('notes')
    scopes.invalidate('notes')
    await scopes.resolve('notes')
    expect(prmFetches()).toBe(2)
  })

  it('prefers a resource_metadata URL a downstream 401 announced', async () => {
    const scopes = discovery()
    await scopes.resolve('notes')
    const announced = `${target.origin}${PRM_PATH}?v=2`
    target.handle((req, res) => sendJson(res, req.url === `${PRM_PATH}?v=2` ? 200 : 404, prmDocument(`${target.origin}/mcp`, { scopes_supported: ['api://notes-mcp/v2'] })))
    scopes.noteResourceMetadata('notes', announced)
    await expect(scopes.resolve('notes')).resolves.toMatchObject({ scopes: ['api://notes-mcp/v2'], prmUrl: announced })
    scopes.noteResourceMetadata('notes', announced) // same URL: nothing to refetch
    await scopes.resolve('notes')
    expect(target.requests.filter((r) => r.path === `${PRM_PATH}?v=2`)).toHaveLength(1)
  })
})

describe('createScopeDiscovery', () => {
  it('wires discovery from the relay settings', async () => {
    const config = loadConfig({
      TENANT_ID: TENANT,
      CLIENT_ID: '22222222-2222-2222-2222-222222222222',
      CLIENT_SECRET: 'test-secret',
      SCOPE: 'api://22222222-2222-2222-2222-222222222222/user_impersonation',
      MCP_SERVERS: JSON.stringify([{ id: 'notes', url: `${target.origin}/mcp` }]),
      ALLOW_INSECURE_LOOPBACK: 'true',
    })
    const created = createScopeDiscovery(config, { logger: pino({ level: 'silent' }) })
    try {
      await expect(created.discovery.resolve('notes')).resolves.toMatchObject({ source: 'prm', scopes: ['api://notes-mcp/user_impersonation'] })
    } finally {
      await created.fetcher.close()
    }
  })
})
