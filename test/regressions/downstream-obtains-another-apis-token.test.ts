// A server whose PRM named the relay's own API, or another configured server's API, made the relay obtain
// that token On-Behalf-Of the user and send it to the server, which could replay it (with the relay's
// audience it read alice's notes through /v1). Only Graph-like resources were refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_CALENDAR_APP_ID, DEV_RELAY_CLIENT_ID } from '../../dev/entra-emulator/index.ts'
import { createMemoryStore } from '../../src/stores/memory.ts'
import { HOSTILE_APIS, startHostileStack, type HostileStack } from '../helpers/hostile.ts'

let h: HostileStack
let alice: string

beforeAll(async () => {
  // notes and calendar come first in the configuration: calendar's audience is claimed before any hostile server's.
  h = await startHostileStack(['steal-relay', 'steal-calendar', 'steal-graph', 'swap'], { relayEnv: { PRM_CACHE_TTL_SEC: '1' } })
  alice = await h.stack.userToken('alice@contoso.test')
})
afterAll(async () => { await h?.close() })

const call = async (server: string) => await h.stack.call(`/v1/servers/${server}/tools/ok`, { method: 'POST', token: alice, body: '{"arguments":{}}' })
const serverRow = async (id: string) => ((await h.stack.call('/v1/servers', { token: alice })).body.servers as Array<{ id: string }>).find((s) => s.id === id) as Record<string, unknown>

describe('no server ever receives another API\'s token', () => {
  it.each([
    ['steal-relay', 'audience_refused', "relay's own API"],
    ['steal-calendar', 'audience_conflict', '"calendar"'],
    ['steal-graph', 'audience_refused', 'first-party'],
  ] as const)('%s: refused (%s), and no token reaches it', async (behaviour, reason, says) => {
    const before = h.stack.oboCalls()
    const res = await call(`hostile-${behaviour}`)
    expect(res.status).toBe(502)
    expect(res.body).toMatchObject({ error: 'bad_gateway', reason })
    expect(res.body.error_description).toContain(says)
    expect(h.hostile.audiences(behaviour)).toEqual([])
    expect(h.stack.oboCalls()).toBe(before)
    expect(await serverRow(`hostile-${behaviour}`)).toMatchObject({ status: 'error', reason, audience: null })
  })

  it('the legitimate owners keep working: calendar still gets its own token', async () => {
    const res = await h.stack.call('/v1/servers/calendar/tools/whoami', { method: 'POST', token: alice, body: '{}' })
    expect(res.status).toBe(200)
    expect(res.body.structuredContent.aud).toBe(DEV_CALENDAR_APP_ID)
  })

  it('a server cannot swap its audience after it was trusted', async () => {
    expect((await call('hostile-swap')).status).toBe(200)
    expect(new Set(h.hostile.audiences('swap'))).toEqual(new Set([HOSTILE_APIS.swapFirst.clientId]))
    h.hostile.swapAudience()
    // Past the PRM cache TTL the relay fetches the document again and refuses the new audience...
    await new Promise((resolve) => setTimeout(resolve, 1100))
    expect((await call('hostile-swap')).status).toBe(200)
    // ...and keeps sending only tokens for the audience it first trusted.
    expect(new Set(h.hostile.audiences('swap'))).toEqual(new Set([HOSTILE_APIS.swapFirst.clientId]))
    expect(await serverRow('hostile-swap')).toMatchObject({ status: 'ok', audience: HOSTILE_APIS.swapFirst.appIdUri, reason: 'audience_refused' })
    expect(h.hostile.audiences('swap')).not.toContain(HOSTILE_APIS.swapLater.clientId)
    expect(h.hostile.audiences('swap')).not.toContain(DEV_RELAY_CLIENT_ID)
  })

  it('refusals say which field failed, never the document\'s values', async () => {
    const rows = (await h.stack.call('/v1/servers', { token: alice })).body.servers as Array<{ error?: string }>
    for (const row of rows) expect(row.error ?? '').not.toMatch(/api:\/\/22222222|graph\.microsoft\.com\/User\.Read/)
  })
})

// The claims lived in the bounded store that also holds sessions, MCP session bindings and (then) per-address
// rate-limit counters: enough other entries evicted calendar's claim, and a server naming calendar's API got its token.
describe('the claims survive pressure on the store', () => {
  let pressed: HostileStack
  beforeAll(async () => {
    pressed = await startHostileStack(['steal-calendar'], { relay: { store: createMemoryStore({ maxEntries: 20 }) } })
  })
  afterAll(async () => { await pressed?.close() })

  it('after calendar claimed its API and 100 other entries came and went, a server naming it is still refused', async () => {
    const token = await pressed.stack.userToken('alice@contoso.test')
    expect((await pressed.stack.call('/v1/servers/calendar/tools/whoami', { method: 'POST', token, body: '{}' })).status).toBe(200)
    const store = pressed.stack.relay.services.store
    for (let i = 0; i < 100; i++) await store.set(`pressure:${i}`, 'x', 60_000)
    const res = await pressed.stack.call('/v1/servers/hostile-steal-calendar/tools/ok', { method: 'POST', token, body: '{"arguments":{}}' })
    expect(res.body).toMatchObject({ error: 'bad_gateway', reason: 'audience_conflict' })
    expect(pressed.hostile.audiences('steal-calendar')).toEqual([])
  })
})

/** A stack whose calendar API has a second Application ID URI, and a hostile server whose PRM names that one. */
async function startAliasedStack (): Promise<HostileStack> {
  const stack = await startHostileStack(['steal-calendar'], { otherServerScope: 'api://calendar-alias/user_impersonation' })
  const calendarApp = stack.stack.emulator.registry.getApp(DEV_CALENDAR_APP_ID)!
  stack.stack.emulator.registry.addApp({ ...calendarApp, moreIdentifierUris: ['api://calendar-alias'] })
  return stack
}

// An API's other Application ID URI (identifierUris is a collection) named the same app under another string:
// claims compared strings, so a server naming calendar's second URI got calendar's token. Now the token's own
// audience (a v2 token's aud is always the API's client id) is claimed too, before the token leaves.
describe('another identifier of the same API', () => {
  let aliased: HostileStack
  beforeAll(async () => { aliased = await startAliasedStack() })
  afterAll(async () => { await aliased?.close() })

  it('a server naming calendar\'s second Application ID URI is refused once calendar holds its API, and gets no token', async () => {
    const token = await aliased.stack.userToken('alice@contoso.test')
    expect((await aliased.stack.call('/v1/servers/calendar/tools/whoami', { method: 'POST', token, body: '{}' })).status).toBe(200)
    const res = await aliased.stack.call('/v1/servers/hostile-steal-calendar/tools/ok', { method: 'POST', token, body: '{"arguments":{}}' })
    expect(res.status).toBe(502)
    expect(res.body).toMatchObject({ error: 'bad_gateway', reason: 'audience_conflict' })
    expect(res.body.error_description).toContain('"calendar"')
    expect(aliased.hostile.audiences('steal-calendar')).toEqual([])
    // The same through the gateway's pass-through.
    const viaGateway = await fetch(`${aliased.stack.relayUrl}/mcp/hostile-steal-calendar`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    })
    expect(viaGateway.status).toBe(502)
    await viaGateway.arrayBuffer()
    expect(aliased.hostile.audiences('steal-calendar')).toEqual([])
    // calendar itself keeps working.
    expect((await aliased.stack.call('/v1/servers/calendar/tools/whoami', { method: 'POST', token, body: '{}' })).status).toBe(200)
  })
})

// Issued APIs were claimed by whichever server got a token first: a hostile server called before calendar (the
// first request after a restart, or an aggregated tools/list asking every server at once) took calendar's API.
describe('another identifier of the same API, the hostile server called first', () => {
  let aliased: HostileStack
  beforeAll(async () => { aliased = await startAliasedStack() })
  afterAll(async () => { await aliased?.close() })

  it('the servers configured before it learn their APIs first (with this user\'s token): refused, no token sent', async () => {
    const token = await aliased.stack.userToken('alice@contoso.test')
    const res = await aliased.stack.call('/v1/servers/hostile-steal-calendar/tools/ok', { method: 'POST', token, body: '{"arguments":{}}' })
    expect(res.body).toMatchObject({ error: 'bad_gateway', reason: 'audience_conflict' })
    expect(aliased.hostile.audiences('steal-calendar')).toEqual([])
    expect((await aliased.stack.call('/v1/servers/calendar/tools/whoami', { method: 'POST', token, body: '{}' })).status).toBe(200)
  })
})
