import { afterEach, describe, expect, it } from 'vitest'
import { MetadataError } from '../../src/net/metadata-error.ts'
import { createSafeFetcher, type SafeFetcher, type SafeFetcherOptions } from '../../src/net/safe-fetch.ts'
import { TEST_CA_PEM, fakeLookup, recordingConnector, sendJson, startServer, type TestServer } from './helpers.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const startedOrigins: string[] = []
afterEach(() => { startedOrigins.length = 0 })

async function server (...args: Parameters<typeof startServer>): Promise<TestServer> {
  const started = await startServer(...args)
  cleanups.push(started.close)
  startedOrigins.push(`127.0.0.1:${started.port}`)
  return started
}

/** Dev mode reaches loopback only at configured servers' origins: here, the servers this test started. */
function fetcher (options: Partial<SafeFetcherOptions> = {}): SafeFetcher {
  const created = createSafeFetcher({ allowInsecureLoopback: true, loopbackOrigins: [...startedOrigins], allowedHosts: [], ...options })
  cleanups.push(created.close)
  return created
}

async function refusal (promise: Promise<unknown>): Promise<MetadataError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(MetadataError)
  return err as MetadataError
}

describe('createSafeFetcher: SSRF policy (nothing off-loopback is ever dialled)', () => {
  it('refuses http to a non-loopback host before resolving it', async () => {
    const lookup = fakeLookup({ 'public.example.test': ['93.184.216.34'] })
    const { connect, attempts } = recordingConnector()
    const err = await refusal(fetcher({ lookup, connect }).getJson(new URL('http://public.example.test/.well-known/oauth-protected-resource')))
    expect(err.code).toBe('refused')
    expect(err.message).toMatch(/https/)
    expect(lookup.calls).toEqual([])
    expect(attempts).toEqual([])
  })

  it('in dev mode reaches loopback only at a configured server\'s own host and port', async () => {
    const configured = await server((_req, res) => sendJson(res, 200, { ok: true }))
    const other = await server((_req, res) => sendJson(res, 200, { secret: true }))
    const devFetcher = fetcher({ loopbackOrigins: [`127.0.0.1:${configured.port}`] })
    await expect(devFetcher.getJson(new URL(`${configured.origin}/x`))).resolves.toMatchObject({ json: { ok: true } })
    const err = await refusal(devFetcher.getJson(new URL(`${other.origin}/x`)))
    expect(err.code).toBe('refused')
    expect(other.connections()).toBe(0)
  })

  it('refuses http to loopback when insecure loopback is off', async () => {
    const target = await server((_req, res) => sendJson(res, 200, {}))
    const err = await refusal(fetcher({ allowInsecureLoopback: false }).getJson(new URL(`${target.origin}/x`)))
    expect(err.code).toBe('refused')
    expect(target.connections()).toBe(0)
  })

  it.each([
    ['a private address', ['10.0.0.5'], 'private'],
    ['the cloud metadata address', ['169.254.169.254'], 'link-local'],
    ['an IPv4-mapped loopback address', ['::ffff:127.0.0.1'], 'loopback'],
    ['a mapped private address in hex', ['::ffff:a00:5'], 'private'],
    ['an IPv4-translated metadata address', ['::ffff:0:169.254.169.254'], 'link-local'],
    ['an IPv4-translated loopback address in hex', ['::ffff:0:7f00:1'], 'loopback'],
    ['unique-local IPv6', ['fd00::1'], 'private'],
    ['a public and a private address (every answer is checked)', ['93.184.216.34', '10.0.0.5'], 'private'],
    ['the unspecified address', ['0.0.0.0'], 'unspecified'],
  ])('refuses a public-looking name resolving to %s', async (_label, addresses, category) => {
    const lookup = fakeLookup({ 'public.example.test': addresses })
    const { connect, attempts } = recordingConnector()
    const err = await refusal(fetcher({ lookup, connect }).getJson(new URL('https://public.example.test/.well-known/oauth-protected-resource')))
    expect(err.code).toBe('refused')
    expect(err.message).toContain(`${category} address`)
    expect(err.message).not.toContain(addresses.at(-1))
    expect(attempts).toEqual([])
  })

  it.each(['https://169.254.169.254/latest/meta-data', 'https://[::ffff:a9fe:a9fe]/', 'https://10.1.2.3/', 'https://0x7f.1/'])('refuses the IP literal %s without a lookup', async (url) => {
    const lookup = fakeLookup({})
    const { connect, attempts } = recordingConnector()
    const err = await refusal(fetcher({ lookup, connect, allowInsecureLoopback: false }).getJson(new URL(url)))
    expect(err.code).toBe('refused')
    expect(lookup.calls).toEqual([])
    expect(attempts).toEqual([])
  })

  it('lets an allow-listed host reach a private address, over verified TLS', async () => {
    const target = await server((_req, res) => sendJson(res, 200, { ok: true }), { tls: true })
    const lookup = fakeLookup({ 'internal.example.test': ['127.0.0.1'] })
    const url = new URL(`https://internal.example.test:${target.port}/doc`)

    const denied = await refusal(fetcher({ lookup, allowInsecureLoopback: false, trustedCaPem: TEST_CA_PEM }).getJson(url))
    expect(denied.code).toBe('refused')
    expect(target.connections()).toBe(0)

    const allowed = fetcher({ lookup, allowInsecureLoopback: false, allowedHosts: ['Internal.Example.Test'], trustedCaPem: TEST_CA_PEM })
    await expect(allowed.getJson(url)).resolves.toMatchObject({ status: 200, json: { ok: true } })
  })

  it('verifies the certificate against the hostname (no extra CA → refused)', async () => {
    const target = await server((_req, res) => sendJson(res, 200, {}), { tls: true })
    const lookup = fakeLookup({ 'internal.example.test': ['127.0.0.1'] })
    const err = await refusal(fetcher({ lookup, allowedHosts: ['internal.example.test'] }).getJson(new URL(`https://internal.example.test:${target.port}/doc`)))
    expect(err.code).toBe('network')
    expect(target.requests).toHaveLength(0)
  })

  it('pins the checked address: a rebinding DNS answer on the next connection is refused', async () => {
    // The stand-in network carries the public address to the local TLS server; the name is in its certificate.
    const target = await server((_req, res) => sendJson(res, 200, { n: 1 }, { connection: 'close' }), { tls: true })
    const lookup = fakeLookup({ 'rebind.example.test': [['93.184.216.34'], ['10.0.0.5']] })
    const { connect, attempts } = recordingConnector({ '93.184.216.34': target.port })
    const safe = fetcher({ lookup, connect, trustedCaPem: TEST_CA_PEM })
    const url = new URL(`https://rebind.example.test:${target.port}/doc`)

    await expect(safe.getJson(url)).resolves.toMatchObject({ json: { n: 1 } })
    const err = await refusal(safe.getJson(url))
    expect(err.message).toContain('private address')
    expect(lookup.calls).toEqual(['rebind.example.test', 'rebind.example.test'])
    expect(attempts).toEqual(['93.184.216.34'])
  })
})

describe('createSafeFetcher: redirects, size, time, type', () => {
  it('follows a same-origin redirect', async () => {
    const target = await server((req, res) => {
      if (req.url === '/old') res.writeHead(301, { location: '/new' }).end()
      else sendJson(res, 200, { moved: true })
    })
    await expect(fetcher().getJson(new URL(`${target.origin}/old`))).resolves.toMatchObject({ json: { moved: true } })
  })

  it('refuses a redirect to another origin; the other host sees nothing', async () => {
    const other = await server((_req, res) => sendJson(res, 200, {}))
    const target = await server((_req, res) => res.writeHead(302, { location: `${other.origin}/doc` }).end())
    const err = await refusal(fetcher().getJson(new URL(`${target.origin}/doc`)))
    expect(err.code).toBe('refused')
    expect(err.message).toMatch(/another origin/)
    expect(other.connections()).toBe(0)
  })

  it('refuses a fourth redirect', async () => {
    const target = await server((req, res) => res.writeHead(307, { location: `${req.url ?? ''}x` }).end())
    const err = await refusal(fetcher().getJson(new URL(`${target.origin}/r`)))
    expect(err.message).toMatch(/more than 3/)
    expect(target.requests.map((r) => r.path)).toEqual(['/r', '/rx', '/rxx', '/rxxx'])
  })

  it('aborts a streamed document over the cap and stops the server mid-stream', async () => {
    let written = 0
    let finished = false
    let closedEarly: Promise<void> = Promise.resolve()
    const target = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      closedEarly = new Promise((resolve) => res.on('close', () => resolve()))
      const chunk = Buffer.alloc(4096, 0x20)
      const pump = (): void => {
        while (!res.destroyed && written < 16 * 1024 * 1024) {
          written += chunk.length
          if (!res.write(chunk)) {
            res.once('drain', pump)
            return
          }
        }
        if (!res.destroyed) {
          finished = true
          res.end()
        }
      }
      pump()
    })
    const err = await refusal(fetcher().getJson(new URL(`${target.origin}/big`)))
    expect(err.code).toBe('too_large')
    await closedEarly
    expect(finished).toBe(false)
    expect(written).toBeLessThan(16 * 1024 * 1024)
  })

  it('refuses a declared Content-Length over the cap without reading', async () => {
    const target = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(70_000) })
      res.end(' '.repeat(70_000))
    })
    expect((await refusal(fetcher().getJson(new URL(`${target.origin}/big`)))).code).toBe('too_large')
  })

  it('gives up on a slow server after timeoutMs', async () => {
    const target = await server(() => {}) // never answers
    const started = Date.now()
    const err = await refusal(fetcher({ timeoutMs: 300 }).getJson(new URL(`${target.origin}/slow`)))
    expect(err.code).toBe('timeout')
    expect(Date.now() - started).toBeLessThan(2_000)
  })

  it('accepts application/json only', async () => {
    const target = await server((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>{}</html>'))
    const err = await refusal(fetcher().getJson(new URL(`${target.origin}/doc`)))
    expect(err.code).toBe('content_type')
    expect(err.message).not.toContain('<html>')
  })

  it('reports a non-200 status without the body', async () => {
    const target = await server((_req, res) => sendJson(res, 500, { secret: 'upstream detail' }))
    const err = await refusal(fetcher().getJson(new URL(`${target.origin}/doc`)))
    expect(err).toMatchObject({ code: 'http_status', httpStatus: 500 })
    expect(err.message).not.toContain('upstream detail')
  })

  it('probe posts an MCP initialize and returns the challenge', async () => {
    const target = await server((_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Bearer resource_metadata="http://x/prm"' }).end('nope')
    })
    const result = await fetcher().probe(new URL(`${target.origin}/mcp`))
    expect(result).toEqual({ status: 401, wwwAuthenticate: 'Bearer resource_metadata="http://x/prm"' })
    expect(target.requests[0]).toMatchObject({ method: 'POST', path: '/mcp' })
    expect(JSON.parse(target.requests[0]?.body ?? '')).toMatchObject({ jsonrpc: '2.0', method: 'initialize' })
  })
})
