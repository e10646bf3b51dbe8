// Two relay processes on one real redis-server behind one public origin (a switching load balancer): an MCP
// session moves between replicas request by request; a replica killed mid-stream loses the call in flight but
// not the session; an agent grant revoked through A is refused through B within a second; and what all this
// leaves in Redis is sealed or hashed.
import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { Redis } from 'ioredis'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { DEV_RELAY_CLIENT_ID } from '../../dev/entra-emulator/index.ts'
import { structured } from '../helpers/mcp-clients.ts'
import { dpopBoundTokens, insecure, proof } from '../helpers/oauth.ts'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.ts'
import { relayEnv, startRelayProcess, type RelayProcess } from '../helpers/relay-process.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { startSwitchProxy, type SwitchProxy } from '../helpers/switch-proxy.ts'

let stack: TestStack
let redis: RedisServer
let lb: SwitchProxy
let a: RelayProcess
let b: RelayProcess
/** The stack as clients see it: the load balancer's origin is the relay's. */
let publicStack: TestStack
let alice: string
const key = randomBytes(32).toString('base64')

let turn = 0
const roundRobin = () => ((turn++ % 2 === 0) ? a : b).url
const only = (replica: () => RelayProcess) => (_: IncomingMessage) => replica().url

beforeAll(async () => {
  stack = await startTestStack()
  redis = await startRedisServer()
  lb = await startSwitchProxy(roundRobin)
  const env = relayEnv(stack, { REDIS_URL: redis.url, TOKEN_ENCRYPTION_KEY: key, PUBLIC_URL: lb.url })
  ;[a, b] = await Promise.all([startRelayProcess(env), startRelayProcess(env)])
  stack.emulator.registry.addRedirectUri(DEV_RELAY_CLIENT_ID, `${lb.url}/auth/callback`)
  publicStack = { ...stack, relayUrl: lb.url }
  alice = await stack.userToken('alice@contoso.test')
}, 60_000)
afterAll(async () => {
  await lb?.close()
  await a?.stop()
  await b?.stop()
  await redis?.stop()
  await stack?.close()
})

const aliceOid = () => stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!.oid

async function connect (path: string): Promise<{ client: Client, transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'replicas', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(`${lb.url}${path}`), { requestInit: { headers: { authorization: `Bearer ${alice}` } } })
  await client.connect(transport)
  return { client, transport }
}

describe('an MCP session across replicas', () => {
  it.each([['/mcp', 'notes__whoami'], ['/mcp/notes', 'whoami']])('%s: requests of one session alternate between A and B', async (path, tool) => {
    lb.route = roundRobin
    lb.served.clear()
    const { client } = await connect(path)
    try {
      for (let i = 0; i < 4; i++) expect(structured(await client.callTool({ name: tool, arguments: {} }))).toMatchObject({ oid: aliceOid() })
      expect((await client.listTools()).tools.map((t) => t.name)).toContain(tool)
    } finally {
      await client.close()
    }
    // Both replicas served requests of the one session (initialize on one, calls on both).
    expect(lb.served.get(a.url)).toBeGreaterThanOrEqual(3)
    expect(lb.served.get(b.url)).toBeGreaterThanOrEqual(3)
  })

  it('A killed in the middle of a streamed call: the call fails, the session goes on through B', async () => {
    lb.route = only(() => a)
    const { client } = await connect('/mcp')
    try {
      const progress: number[] = []
      const call = client.callTool({ name: 'notes__stepped', arguments: { gate: 'replica-kill', steps: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress), timeout: 20_000 })
      const outcome = call.then(() => 'completed', () => 'failed')
      await vi.waitFor(() => {
        stack.notes.releaseStep('replica-kill')
        expect(progress.length).toBeGreaterThan(0)
      }, { timeout: 10_000, interval: 100 })
      // The load balancer sees A die and sends everything to B (as HAProxy's health check would).
      lb.route = only(() => b)
      await a.kill()
      expect(await outcome).toBe('failed')
      expect(structured(await client.callTool({ name: 'notes__whoami', arguments: {} }))).toMatchObject({ oid: aliceOid() })
    } finally {
      await client.close().catch(() => {})
      stack.notes.releaseStep('replica-kill')
      stack.notes.releaseStep('replica-kill')
      await a.restart()
      lb.route = roundRobin
    }
  })
})

describe('agents across replicas', () => {
  it('a grant revoked through A is refused through B within a second; Redis holds only sealed or hashed values', async () => {
    lb.route = only(() => a)
    const issued = await dpopBoundTokens(publicStack, { resource: `${lb.url}/v1` })
    const token = issued.tokens.access_token
    // A DPoP call with the relay's nonce (RFC 9449 §8): a first try without one learns it.
    let nonce: string | undefined
    const signed = async (method: string, path: string, body?: string) => {
      for (let attempt = 0; ; attempt++) {
        const response = await fetch(`${lb.url}${path}`, {
          method,
          headers: { authorization: `DPoP ${token}`, dpop: await proof(issued.dpop, { htm: method, htu: `${lb.url}${path}`, ...(nonce === undefined ? {} : { nonce }) }, token), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body }),
        })
        nonce = response.headers.get('dpop-nonce') ?? nonce
        if (attempt === 0 && response.status === 401 && (response.headers.get('www-authenticate') ?? '').includes('use_dpop_nonce')) { await response.body?.cancel(); continue }
        await response.body?.cancel()
        return response.status
      }
    }
    const me = async () => await signed('GET', '/v1/me')
    lb.route = only(() => b)
    expect(await me()).toBe(200)
    // A tool call through B with the agent's token, so the grant's MSAL partition and OBO entry exist.
    expect(await signed('POST', '/v1/servers/notes/tools/whoami', '{}')).toBe(200)

    const client = new Redis(redis.url)
    try {
      const keys = await client.keys('*')
      const dump: string[] = []
      for (const k of keys) {
        const type = await client.type(k)
        dump.push(k, ...(type === 'string' ? [await client.get(k) ?? ''] : type === 'set' ? await client.smembers(k) : type === 'hash' ? Object.entries(await client.hgetall(k)).flat() : []))
      }
      const all = dump.join('\n')
      // Entries of the authorization server, the agent grant, DPoP replay and the MCP sessions of the tests above.
      const kinds = new Set(keys.map((k) => k.replace(/^obo-relay:/, '').split(':')[0]))
      for (const kind of ['oidc', 'agent', 'mcp-session', 'dpop-jti', 'obo']) expect([...kinds].some((found) => found?.startsWith(kind)), `${kind} in ${[...kinds].join(', ')}`).toBe(true)
      expect(all).not.toContain(token)
      expect(all).not.toContain(issued.tokens.refresh_token!)
      expect(all).not.toContain(alice)
      expect(all).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{10,}/)
      expect(all).not.toContain('relay-dev-secret')
    } finally {
      client.disconnect()
    }

    lb.route = only(() => a)
    const { raw } = issued
    await oauth.processRevocationResponse(await oauth.revocationRequest(raw.as, raw.client, raw.auth, issued.tokens.refresh_token!, { ...insecure, additionalParameters: { token_type_hint: 'refresh_token' } }))
    const revokedAt = Date.now()
    lb.route = only(() => b)
    await vi.waitFor(async () => { expect(await me()).toBe(401) }, { timeout: 1_000, interval: 50 })
    expect(Date.now() - revokedAt).toBeLessThan(1_000)
  })
})
