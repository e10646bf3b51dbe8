import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MetadataError } from '../../src/net/metadata-error.ts'
import {
  discoverProtectedResource, isResourceOf, protectedResourceMetadataUrls, scopesToRequest, validateProtectedResourceMetadata,
} from '../../src/discovery/prm.ts'
import { createSafeFetcher, type SafeFetcher } from '../../src/net/safe-fetch.ts'
import { ISSUER, ISSUER_POLICY, TENANT, prmDocument, sendJson, startServer, type Handler, type TestServer } from './helpers.ts'

const WELL_KNOWN = '/.well-known/oauth-protected-resource'
let target: TestServer
let fetcher: SafeFetcher

beforeEach(async () => {
  target = await startServer((_req, res) => sendJson(res, 404, { error: 'not_found' }))
  fetcher = createSafeFetcher({ allowInsecureLoopback: true, loopbackOrigins: [`127.0.0.1:${target.port}`], allowedHosts: [] })
})
afterEach(async () => {
  await fetcher.close()
  await target.close()
})

/** Serves `routes` by exact path (GET) and 404 for anything else; POSTs go to `onPost`. */
function serve (routes: Record<string, unknown>, onPost?: Handler): void {
  target.handle((req, res, body) => {
    if (req.method === 'POST' && onPost !== undefined) return onPost(req, res, body)
    const doc = routes[req.url ?? '']
    if (doc === undefined) sendJson(res, 404, { error: 'not_found' })
    else sendJson(res, 200, doc)
  })
}

const discover = (path = '/mcp'): ReturnType<typeof discoverProtectedResource> =>
  discoverProtectedResource(new URL(`${target.origin}${path}`), { fetcher, ...ISSUER_POLICY })

async function refusal (promise: Promise<unknown>): Promise<MetadataError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(MetadataError)
  return err as MetadataError
}

describe('discoverProtectedResource: where the metadata is', () => {
  it('uses path insertion first', async () => {
    serve({ [`${WELL_KNOWN}/mcp`]: prmDocument(`${target.origin}/mcp`) })
    const found = await discover()
    expect(found).toEqual({
      resource: `${target.origin}/mcp`,
      scopes: ['api://notes-mcp/user_impersonation'],
      audience: 'api://notes-mcp',
      prmUrl: `${target.origin}${WELL_KNOWN}/mcp`,
      authorizationServers: [ISSUER],
    })
    expect(target.requests.map((r) => r.path)).toEqual([`${WELL_KNOWN}/mcp`])
  })

  it('falls back to the origin root (App Service)', async () => {
    serve({ [WELL_KNOWN]: prmDocument(target.origin) })
    const found = await discover()
    expect(found.prmUrl).toBe(`${target.origin}${WELL_KNOWN}`)
    expect(found.resource).toBe(`${target.origin}/`)
    expect(target.requests.map((r) => r.path)).toEqual([`${WELL_KNOWN}/mcp`, WELL_KNOWN])
  })

  it('falls back to resource_metadata from a 401 challenge', async () => {
    serve({ '/meta/prm.json': prmDocument(`${target.origin}/mcp`) }, (_req, res) => {
      res.writeHead(401, {
        'www-authenticate': `Basic realm="x", Bearer error="invalid_token", error_description="no, really", resource_metadata="${target.origin}/meta/prm.json"`,
      }).end()
    })
    const found = await discover()
    expect(found.prmUrl).toBe(`${target.origin}/meta/prm.json`)
    expect(target.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET ${WELL_KNOWN}/mcp`, `GET ${WELL_KNOWN}`, 'POST /mcp', 'GET /meta/prm.json',
    ])
  })

  it('tries an announced resource_metadata URL first, and ignores it when it fails', async () => {
    serve({ '/announced': prmDocument(`${target.origin}/mcp`), [`${WELL_KNOWN}/mcp`]: prmDocument(`${target.origin}/mcp`) })
    const announced = await discoverProtectedResource(new URL(`${target.origin}/mcp`), { fetcher, ...ISSUER_POLICY, resourceMetadataUrl: new URL(`${target.origin}/announced`) })
    expect(announced.prmUrl).toBe(`${target.origin}/announced`)
    const fallback = await discoverProtectedResource(new URL(`${target.origin}/mcp`), { fetcher, ...ISSUER_POLICY, resourceMetadataUrl: new URL('https://10.0.0.1/x') })
    expect(fallback.prmUrl).toBe(`${target.origin}${WELL_KNOWN}/mcp`)
  })

  it('says what it tried when nothing is published', async () => {
    serve({}, (_req, res) => res.writeHead(401, { 'www-authenticate': 'Bearer realm="x"' }).end())
    const err = await refusal(discover())
    expect(err.code).toBe('not_found')
    expect(err.message).toContain('HTTP 404')
    expect(err.message).toContain('without a resource_metadata challenge')
  })

  it('refuses http to a non-loopback server', async () => {
    const err = await refusal(discoverProtectedResource(new URL('http://mcp.example.test/mcp'), { fetcher, ...ISSUER_POLICY }))
    expect(err.code).toBe('refused')
  })

  it('keeps looking past a non-JSON answer, then reports it', async () => {
    target.handle((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<p>hello</p>'))
    const err = await refusal(discover())
    expect(err.message).toContain('is not application/json')
    expect(err.message).not.toContain('hello')
  })
})

describe('discoverProtectedResource: what it accepts', () => {
  const refuse = async (doc: unknown, path = '/mcp'): Promise<string> => {
    serve({ [`${WELL_KNOWN}${path}`]: doc })
    const err = await refusal(discover(path))
    expect(err.code).toBe('invalid_metadata')
    return err.message
  }

  it('refuses a resource that is another server', async () => {
    expect(await refuse(prmDocument(`${target.origin}/other`))).toMatch(/does not name the server/)
    expect(await refuse(prmDocument(`http://localhost:${target.port}/mcp`))).toMatch(/does not name the server/)
  })

  it('refuses a prefix that is not on a path-segment boundary', async () => {
    expect(await refuse(prmDocument(`${target.origin}/mcp`), '/mcpx')).toMatch(/does not name the server/)
  })

  it('accepts a same-origin ancestor on a segment boundary', async () => {
    serve({ [`${WELL_KNOWN}/mcp/x`]: prmDocument(`${target.origin}/mcp`) })
    await expect(discover('/mcp/x')).resolves.toMatchObject({ resource: `${target.origin}/mcp` })
  })

  it('refuses a foreign authorization server', async () => {
    const message = await refuse(prmDocument(`${target.origin}/mcp`, { authorization_servers: [ISSUER, 'https://evil.example/x/v2.0'] }))
    expect(message).toBe('the path-insertion PRM "authorization_servers" names an issuer that is not an allowed Entra tenant')
    expect(message).not.toContain('evil')
  })

  it.each([
    'https://login.microsoftonline.com/22222222-2222-2222-2222-222222222222/v2.0',
    'https://login.microsoftonline.com/common/v2.0',
    `https://login.microsoftonline.com/${TENANT}`,
    `https://login.microsoftonline.com.evil.example/${TENANT}/v2.0`,
    `http://login.microsoftonline.com/${TENANT}/v2.0`,
  ])('refuses issuer %s', async (issuer) => {
    expect(await refuse(prmDocument(`${target.origin}/mcp`, { authorization_servers: [issuer] }))).toMatch(/not an allowed Entra tenant/)
  })

  it('tolerates one trailing slash on the issuer', () => {
    const doc = prmDocument('https://h/mcp', { authorization_servers: [`${ISSUER}/`] })
    expect(validateProtectedResourceMetadata(doc, new URL('https://h/mcp'), ISSUER_POLICY).scopes).toEqual(['api://notes-mcp/user_impersonation'])
  })

  it('refuses empty or missing scopes_supported and authorization_servers', async () => {
    expect(await refuse(prmDocument(`${target.origin}/mcp`, { scopes_supported: [] }))).toMatch(/"scopes_supported" is missing or empty/)
    expect(await refuse(prmDocument(`${target.origin}/mcp`, { scopes_supported: undefined }))).toMatch(/scopes_supported/)
    expect(await refuse(prmDocument(`${target.origin}/mcp`, { authorization_servers: [] }))).toMatch(/authorization_servers/)
    expect(await refuse([1, 2])).toMatch(/not a JSON object/)
  })
})

describe('helpers', () => {
  it('builds the RFC 9728 §3.1 locations', () => {
    expect(protectedResourceMetadataUrls(new URL('https://h/mcp/')).map(String)).toEqual([`https://h${WELL_KNOWN}/mcp`, `https://h${WELL_KNOWN}`])
    expect(protectedResourceMetadataUrls(new URL('https://h')).map(String)).toEqual([`https://h${WELL_KNOWN}`])
  })

  it('matches resources on path segments', () => {
    const is = (resource: string, server: string): boolean => isResourceOf(new URL(resource), new URL(server))
    expect(is('https://h/mcp', 'https://h/mcp/x')).toBe(true)
    expect(is('https://h/mcp/', 'https://h/mcp')).toBe(true)
    expect(is('https://h', 'https://h/mcp')).toBe(true)
    expect(is('https://h/mcp', 'https://h/mcpx')).toBe(false)
    expect(is('https://h:444/mcp', 'https://h/mcp')).toBe(false)
    expect(is('https://h/mcp#x', 'https://h/mcp')).toBe(false)
  })

  it('turns scopes_supported into Entra scopes', () => {
    const resource = 'https://h/mcp'
    expect(scopesToRequest(['openid', 'profile', 'offline_access', 'email', 'api://notes-mcp'], resource)).toEqual(['api://notes-mcp/.default'])
    expect(scopesToRequest(['6e0ff2a2-7b39-4a55-a4a3-8cf0cdd3b1c8'], resource)).toEqual(['6e0ff2a2-7b39-4a55-a4a3-8cf0cdd3b1c8/.default'])
    expect(scopesToRequest(['api://x/', 'api://x/read', 'api://x/write'], resource)).toEqual(['api://x/read', 'api://x/write'])
    expect(() => scopesToRequest(['api://x/read', 'https://graph.microsoft.com/Mail.Read'], resource)).toThrow(/more than one API/)
    expect(() => scopesToRequest(['openid', 'profile'], resource)).toThrow(/only OpenID Connect scopes/)
  })

  it('qualifies bare scope names with the PRM resource (App ID URI = the server URL)', () => {
    expect(scopesToRequest(['user_impersonation'], 'https://h/mcp')).toEqual(['https://h/mcp/user_impersonation'])
    expect(scopesToRequest(['openid', 'tools.read', 'tools.write'], 'https://h/mcp/')).toEqual(['https://h/mcp/tools.read', 'https://h/mcp/tools.write'])
  })
})
