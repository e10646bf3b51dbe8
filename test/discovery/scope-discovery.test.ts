import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { McpServerConfig } from '../../src/config/index.ts'
import { AudienceClaims } from '../../src/discovery/audience.ts'
import { RelayError } from '../../src/errors.ts'
import { createSafeFetcher, type SafeFetcher } from '../../src/net/safe-fetch.ts'
import { ScopeDiscovery, type ScopeDiscoveryOptions } from '../../src/discovery/scope-discovery.ts'
import { createMemoryStore } from '../../src/stores/memory.ts'
import type { Store } from '../../src/stores/types.ts'
import { ISSUER_POLICY, prmDocument, sendJson, startServer, type TestServer } from './helpers.ts'

const PRM_PATH = '/.well-known/oauth-protected-resource/mcp'
let target: TestServer
let fetcher: SafeFetcher
let clock: number
let warnings: Array<{ fields: object, message: string }>
/** What the PRM endpoint answers: a document, or an HTTP status to fail with. */
let answer: { doc: unknown } | { status: number }
let delayMs: number
let store: Store

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
  fetcher = createSafeFetcher({ allowInsecureLoopback: true, loopbackOrigins: [`127.0.0.1:${target.port}`], allowedHosts: [] })
  store = createMemoryStore()
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
    audiencePolicy: { relayAudiences: ['22222222-2222-2222-2222-222222222222', 'api://22222222-2222-2222-2222-222222222222'], allowedResources: [] },
    claims: new AudienceClaims(store, servers),
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
    await expect(scopes.resolve('notes')).resolves.toEqual({ scopes: ['api://notes-mcp/user_impersonation'], source: 'config', audience: 'api://notes-mcp' })
    await scopes.start()
    expect(scopes.status()).toEqual([{ id: 'notes', url: `${target.origin}/mcp`, resource: null, audience: 'api://notes-mcp', scopes: ['api://notes-mcp/user_impersonation'], scopeSource: 'config', status: 'ok' }])
    expect(target.connections()).toBe(0)
  })

  it('discovers from PRM and caches for the TTL', async () => {
    const scopes = discovery()
    expect(scopes.status()[0]?.status).toBe('pending')
    const expected = { scopes: ['api://notes-mcp/user_impersonation'], source: 'prm', audience: 'api://notes-mcp', resource: `${target.origin}/mcp`, prmUrl: `${target.origin}${PRM_PATH}` }
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
    expect(warnings[0]?.message).toMatch(/scope discovery failed/)
    expect(scopes.status()[0]).toMatchObject({ status: 'ok', scopes: good.scopes, reason: 'discovery_failed', error: expect.stringMatching(/not an allowed Entra tenant/) })
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
    expect(prmFetches()).toBe(1)
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
      reason: 'discovery_failed',
      description: 'Scope discovery for server "bad" failed: the path-insertion PRM "authorization_servers" names an issuer that is not an allowed Entra tenant.',
    })
    await expect(scopes.resolve('fixed')).resolves.toMatchObject({ source: 'config' })
    expect(scopes.status().map((s) => [s.id, s.status])).toEqual([['bad', 'error'], ['fixed', 'ok']])
    // A failure at start-up is tried once more by the next request (the server may just be starting too)...
    await expect(scopes.resolve('bad')).rejects.toMatchObject({ statusCode: 502 })
    expect(prmFetches()).toBe(2)
    // ...and then remembered briefly instead of refetched on every call.
    await expect(scopes.resolve('bad')).rejects.toMatchObject({ statusCode: 502 })
    expect(prmFetches()).toBe(2)
  })

  it('answers 404 for an unknown server', async () => {
    await expect(discovery().resolve('nope')).rejects.toMatchObject({ statusCode: 404, code: 'not_found' })
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

describe('audience binding', () => {
  const pinned = (id: string, scopes: string[]): McpServerConfig => ({ id, url: new URL(`https://${id}.example.test/mcp`), scopes })

  it('refuses a server whose scopes name the relay\'s own API, by client id or App ID URI', async () => {
    answer = { doc: prmDocument(`${target.origin}/mcp`, { scopes_supported: ['api://22222222-2222-2222-2222-222222222222/user_impersonation'] }) }
    const scopes = discovery()
    await expect(scopes.resolve('notes')).rejects.toMatchObject({ statusCode: 502, reason: 'audience_refused' })
    const own = discovery([pinned('sneaky', ['22222222-2222-2222-2222-222222222222/.default'])])
    await expect(own.resolve('sneaky')).rejects.toMatchObject({ reason: 'audience_refused' })
  })

  it('the first configured server keeps a contested audience, whatever order requests come in', async () => {
    const servers = [pinned('first', ['api://shared/read']), { id: 'notes', url: new URL(`${target.origin}/mcp`) }]
    answer = { doc: prmDocument(`${target.origin}/mcp`, { scopes_supported: ['api://shared/write'] }) }
    const scopes = discovery(servers)
    // A request for the later server arrives first: it still waits for the claims in configuration order.
    await expect(scopes.resolve('notes')).rejects.toMatchObject({ reason: 'audience_conflict', description: expect.stringContaining('"first"') })
    await expect(scopes.resolve('first')).resolves.toMatchObject({ audience: 'api://shared' })
  })

  it('a server cannot swap its audience after it was trusted: the trusted one is served, the change refused', async () => {
    const scopes = discovery()
    await expect(scopes.resolve('notes')).resolves.toMatchObject({ audience: 'api://notes-mcp' })
    clock += 61_000
    answer = { doc: prmDocument(`${target.origin}/mcp`, { scopes_supported: ['api://other-api/user_impersonation'] }) }
    await expect(scopes.resolve('notes')).resolves.toMatchObject({ audience: 'api://notes-mcp' })
    expect(scopes.status()[0]).toMatchObject({ status: 'ok', reason: 'audience_refused', audience: 'api://notes-mcp' })
    // Another discovery instance on the same store (another replica) refuses it too.
    await expect(discovery().resolve('notes')).rejects.toMatchObject({ reason: 'audience_refused' })
  })

  it('a pinned audience must match what the PRM names; an operator\'s new pin replaces the old audience', async () => {
    const server = (audience: string): McpServerConfig => ({ id: 'notes', url: new URL(`${target.origin}/mcp`), audience })
    await expect(discovery([server('api://pinned-elsewhere')]).resolve('notes')).rejects.toMatchObject({ reason: 'audience_refused' })
    await expect(discovery([server('api://notes-mcp')]).resolve('notes')).resolves.toMatchObject({ audience: 'api://notes-mcp' })
  })

  it('accepts the server\'s own https URL as App ID URI with bare scope names (Microsoft\'s MCP guidance)', async () => {
    answer = { doc: prmDocument(`${target.origin}/mcp`, { scopes_supported: ['user_impersonation'] }) }
    await expect(discovery().resolve('notes')).resolves.toMatchObject({ scopes: [`${target.origin}/mcp/user_impersonation`], audience: `${target.origin}/mcp` })
  })

  it('releases the claims of a server no longer configured', async () => {
    await discovery([pinned('old', ['api://recycled/read'])]).resolve('old')
    await expect(discovery([pinned('new', ['api://recycled/read'])]).resolve('new')).resolves.toMatchObject({ audience: 'api://recycled' })
  })
})
