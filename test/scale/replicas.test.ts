// Two relay processes on one real redis-server: any replica serves any session, one Entra call serves both,
// a restart loses nothing, and without Redis the relay fails closed (503) and recovers by itself.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_RELAY_CLIENT_ID } from '../../dev/entra-emulator/index.ts'
import { HttpBrowser, readJson } from '../helpers/browser.ts'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.ts'
import { relayEnv, startRelayProcess, type RelayProcess } from '../helpers/relay-process.ts'
import { submitSignInForm } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let redis: RedisServer
let a: RelayProcess
let b: RelayProcess
const key = randomBytes(32).toString('base64')

beforeAll(async () => {
  stack = await startTestStack()
  redis = await startRedisServer()
  const env = relayEnv(stack, { REDIS_URL: redis.url, TOKEN_ENCRYPTION_KEY: key })
  // One public origin for both, as behind a load balancer: A's URL (Entra sends the browser back there).
  a = await startRelayProcess(env)
  b = await startRelayProcess({ ...env, PUBLIC_URL: a.url })
  stack.emulator.registry.addRedirectUri(DEV_RELAY_CLIENT_ID, `${a.url}/auth/callback`)
}, 60_000)
afterAll(async () => {
  await a?.stop()
  await b?.stop()
  await redis?.stop()
  await stack?.close()
})

/** A browser signed in through A, which also presents its cookies to B (the same origin behind a balancer). */
async function signInThroughA (username: string, password: string): Promise<HttpBrowser> {
  const browser = new HttpBrowser(stack.fetch)
  const start = await browser.request(`${a.url}/auth/login?return_to=/v1/me`)
  const authorizeUrl = start.headers.get('location')!
  const callback = await submitSignInForm(browser, await browser.request(authorizeUrl), authorizeUrl, username, password)
  expect((await browser.request(callback)).status).toBe(302)
  return browser
}
const onB = (browser: HttpBrowser, path: string, init: RequestInit = {}) => {
  const cookie = browser.cookieHeader(`${a.url}${path}`)
  return fetch(`${b.url}${path}`, { ...init, headers: { ...init.headers as Record<string, string>, cookie, origin: a.url } })
}

describe('replicas on one Redis', () => {
  it('a session made on A works on B; signing out on A ends it on B at once', async () => {
    const browser = await signInThroughA('alice@contoso.test', 'alice-password')
    const me = await onB(browser, '/v1/me')
    expect(me.status).toBe(200)
    expect(await readJson(me)).toMatchObject({ upn: 'alice@contoso.test', mode: 'session' })
    const call = await onB(browser, '/v1/servers/notes/tools/whoami', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(call.status).toBe(200)
    expect((await browser.request(`${a.url}/auth/logout`, { method: 'POST', headers: { origin: a.url } })).status).toBe(200)
    expect((await onB(browser, '/v1/me')).status).toBe(401)
  })

  it('40 concurrent cold calls spread over A and B cause exactly one OBO exchange', async () => {
    stack.emulator.reset()
    const token = await stack.userToken('bob@contoso.test')
    const calls = Array.from({ length: 40 }, (_, i) => fetch(`${(i % 2 === 0 ? a : b).url}/v1/servers/calendar/tools/whoami`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}',
    }))
    expect((await Promise.all(calls)).map((r) => r.status)).toEqual(Array(40).fill(200))
    // One for calendar, one for notes: configured before calendar, its issued API is learned first (audience.ts).
    expect(stack.oboCalls()).toBe(2)
  })

  it('restarting both replicas loses no session and no cached token', async () => {
    const browser = await signInThroughA('bob@contoso.test', 'bob-password')
    const token = await stack.userToken('alice@contoso.test')
    const whoami = (relay: RelayProcess) => fetch(`${relay.url}/v1/servers/notes/tools/whoami`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' })
    expect((await whoami(a)).status).toBe(200)
    stack.emulator.reset()
    await Promise.all([a.restart(), b.restart()])
    expect((await onB(browser, '/v1/me')).status).toBe(200)
    expect((await whoami(b)).status).toBe(200)
    expect(stack.oboCalls()).toBe(0)
  })

  it('nothing in Redis is readable without the key: no token, code or secret in any key or value', async () => {
    const browser = await signInThroughA('alice@contoso.test', 'alice-password')
    const token = await stack.userToken('alice@contoso.test')
    await onB(browser, '/v1/servers/calendar/tools/whoami', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    await fetch(`${a.url}/v1/servers/notes/tools/whoami`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' })
    const client = new Redis(redis.url)
    try {
      const keys = await client.keys('*')
      const kinds = new Set(keys.map((k) => k.replace(/^obo-relay:/, '').split(':')[0]))
      for (const kind of ['session', 'msal', 'obo', 'audience', 'login-used']) expect(kinds, kind).toContain(kind)
      const dump: string[] = []
      for (const k of keys) {
        const type = await client.type(k)
        dump.push(k, ...(type === 'string' ? [await client.get(k) ?? ''] : type === 'set' ? await client.smembers(k) : []))
      }
      const all = dump.join('\n')
      expect(all).not.toContain(token)
      expect(all).not.toContain(token.split('.')[2]!)
      expect(all).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{10,}/)
      expect(all).not.toContain('relay-dev-secret')
      expect(all).not.toContain('alice-password')
      // Token-bearing entries are sealed under the key (v1.<key id>.<ciphertext>, v2 when compressed first).
      for (const k of keys.filter((k) => /:(msal|obo):/.test(`:${k.replace(/^obo-relay:/, '')}`))) expect(await client.get(k)).toMatch(/^v[12]\.[\w-]+\.[\w-]+$/)
    } finally {
      client.disconnect()
    }
  })

  it('a replica with another TOKEN_ENCRYPTION_KEY refuses to start, saying why, rather than mint what others cannot read', async () => {
    await expect(startRelayProcess(relayEnv(stack, { REDIS_URL: redis.url, TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64') }))).rejects.toThrow(/TOKEN_ENCRYPTION_KEY differs/)
  })

  it('Redis down: 503 with Retry-After, never an answer from less state; back up: service resumes without a restart', async () => {
    const token = await stack.userToken('bob@contoso.test')
    const whoami = (relay: RelayProcess) => fetch(`${relay.url}/v1/servers/calendar/tools/whoami`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' })
    await redis.restart(async () => {
      const res = await whoami(a)
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/)
      expect(await res.json()).toMatchObject({ reason: 'store_unavailable' })
      expect((await fetch(`${b.url}/readyz`)).status).toBe(503)
      expect((await fetch(`${b.url}/healthz`)).status).toBe(200)
    })
    const deadline = Date.now() + 10_000
    let status = 0
    while (Date.now() < deadline && status !== 200) {
      status = (await whoami(b)).status
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(status).toBe(200)
    expect((await fetch(`${a.url}/readyz`)).status).toBe(200)
  })
})
