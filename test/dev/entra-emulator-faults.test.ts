// Scripted faults of the emulator's token endpoint, and the control API that scripts them.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  DEV_CALENDAR_SCOPE, DEV_CLI_CLIENT_ID, DEV_NOTES_SCOPE, DEV_RELAY_CLIENT_ID, DEV_RELAY_CLIENT_SECRET, DEV_RELAY_SCOPE, DEV_TENANT_ID,
  startEntraEmulator, type EntraEmulator, type FaultSpec,
} from '../../dev/entra-emulator/index.ts'
import { createDispatcher, createFetch } from '../../src/net/http-client.ts'

let emulator: EntraEmulator
let fetch: typeof globalThis.fetch

const ALICE = 'alice@contoso.test'
const BOB = 'bob@contoso.test'

interface TokenAnswer { status: number, body: Record<string, unknown>, headers: Headers }

async function token (params: Record<string, string>): Promise<TokenAnswer> {
  const response = await fetch(`${emulator.url}/${DEV_TENANT_ID}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  })
  return { status: response.status, body: await response.json() as Record<string, unknown>, headers: response.headers }
}

async function obo (username = ALICE, scope = DEV_NOTES_SCOPE): Promise<TokenAnswer> {
  const assertion = await emulator.issueUserToken(username, { clientId: DEV_CLI_CLIENT_ID, scopes: [DEV_RELAY_SCOPE] })
  return await token({
    grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
    requested_token_use: 'on_behalf_of',
    client_id: DEV_RELAY_CLIENT_ID,
    client_secret: DEV_RELAY_CLIENT_SECRET,
    assertion,
    scope,
  })
}

async function ropc (username = ALICE): Promise<TokenAnswer> {
  return await token({ grant_type: 'password', client_id: DEV_CLI_CLIENT_ID, username, password: username.replace('@contoso.test', '-password'), scope: DEV_RELAY_SCOPE })
}

async function postFault (fault: unknown): Promise<{ status: number, body: Record<string, unknown> }> {
  const response = await fetch(`${emulator.url}/_emulator/faults`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fault),
  })
  return { status: response.status, body: await response.json() as Record<string, unknown> }
}

beforeAll(async () => {
  emulator = await startEntraEmulator({ port: 0 })
  fetch = createFetch(createDispatcher({ trustedCaPem: emulator.caPem }))
})
afterAll(async () => { await emulator.close() })
beforeEach(() => { emulator.reset() })

describe('fault kinds', () => {
  it('claims_challenge: 400 interaction_required AADSTS50076 with the claims and a suberror', async () => {
    const claims = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
    emulator.addFault({ grant: 'on_behalf_of', fault: 'claims_challenge', claims, count: 1 })
    const challenged = await obo()
    expect(challenged.status).toBe(400)
    expect(challenged.body).toMatchObject({ error: 'interaction_required', error_codes: [50076], claims, suberror: 'basic_action' })
    expect(challenged.body.error_description).toMatch(/^AADSTS50076: /)
    expect((await obo()).status).toBe(200)
  })

  it('claims_challenge without claims sends a Conditional Access claims request', async () => {
    emulator.addFault({ fault: 'claims_challenge', count: 1 })
    const challenged = await obo()
    expect(JSON.parse(challenged.body.claims as string)).toMatchObject({ access_token: { capolids: { essential: true } } })
  })

  it('consent_required: invalid_grant AADSTS65001 with suberror consent_required', async () => {
    emulator.addFault({ grant: 'on_behalf_of', fault: 'consent_required' })
    expect((await obo()).body).toMatchObject({ error: 'invalid_grant', error_codes: [65001], suberror: 'consent_required' })
  })

  it('invalid_grant: AADSTS50173 (revoked grant)', async () => {
    emulator.addFault({ grant: 'password', fault: 'invalid_grant' })
    expect((await ropc()).body).toMatchObject({ error: 'invalid_grant', error_codes: [50173] })
  })

  // Proves the fault answers OBO as Entra answers an app-only assertion (400 unauthorized_client AADSTS7000114), and only OBO.
  it('app_only_assertion: 400 unauthorized_client AADSTS7000114 to On-Behalf-Of requests only', async () => {
    emulator.addFault({ fault: 'app_only_assertion', count: 1 })
    expect((await ropc()).status).toBe(200)
    const refused = await obo()
    expect(refused.status).toBe(400)
    expect(refused.body).toMatchObject({ error: 'unauthorized_client', error_codes: [7000114] })
    expect(refused.body.error_description).toMatch(new RegExp(`^AADSTS7000114: Application '${DEV_RELAY_CLIENT_ID}' is not allowed to make application on-behalf-of calls\\.\r\nTrace ID: `))
    expect((await obo()).status).toBe(200)
    expect((await postFault({ fault: 'app_only_assertion', grant: 'password' })).status).toBe(400)
    expect((await postFault({ fault: 'app_only_assertion' })).body.fault).toEqual({ fault: 'app_only_assertion', grant: 'on_behalf_of' })
  })

  it('throttle: 429 with Retry-After; unavailable: 503 with Retry-After', async () => {
    emulator.addFault({ fault: 'throttle', retryAfterSec: 7, count: 1 })
    const throttled = await obo()
    expect(throttled.status).toBe(429)
    expect(throttled.headers.get('retry-after')).toBe('7')
    expect(throttled.body.error_codes).toEqual([90055])
    emulator.addFault({ fault: 'unavailable', count: 1 })
    const down = await obo()
    expect(down.status).toBe(503)
    expect(down.body.error).toBe('temporarily_unavailable')
    expect(Number(down.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  it('latency: answers normally after the delay', async () => {
    emulator.addFault({ fault: 'latency', latencyMs: 300, count: 1 })
    const started = Date.now()
    expect((await obo()).status).toBe(200)
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
  })
})

describe('fault scoping and counting', () => {
  it('fires count times, then stops', async () => {
    emulator.addFault({ fault: 'invalid_grant', count: 2 })
    expect((await obo()).status).toBe(400)
    expect((await obo()).status).toBe(400)
    expect((await obo()).status).toBe(200)
  })

  it('without count, fires until reset', async () => {
    emulator.addFault({ fault: 'unavailable', retryAfterSec: 1 })
    for (let i = 0; i < 3; i++) expect((await obo()).status).toBe(503)
    emulator.reset()
    expect((await obo()).status).toBe(200)
  })

  it('is scoped by grant, scope (or its resource) and user (username or oid)', async () => {
    emulator.addFault({ grant: 'on_behalf_of', scope: DEV_NOTES_SCOPE, user: ALICE, fault: 'consent_required' })
    expect((await ropc()).status).toBe(200)
    expect((await obo(ALICE, DEV_CALENDAR_SCOPE)).status).toBe(200)
    expect((await obo(BOB)).status).toBe(200)
    expect((await obo(ALICE)).status).toBe(400)
    emulator.reset()
    const bobOid = emulator.users.find(user => user.username === BOB)?.oid ?? ''
    emulator.addFault({ scope: 'api://calendar-mcp', user: bobOid, fault: 'invalid_grant' })
    expect((await obo(BOB, DEV_CALENDAR_SCOPE)).status).toBe(400)
    expect((await obo(BOB, DEV_NOTES_SCOPE)).status).toBe(200)
  })

  it('still counts faulted requests in stats', async () => {
    emulator.addFault({ fault: 'throttle', count: 1 })
    await obo()
    await obo()
    expect(emulator.stats().calls.on_behalf_of).toBe(2)
  })
})

describe('control API for faults', () => {
  it('accepts a valid fault (201), lists it, and the fault applies', async () => {
    const spec: FaultSpec = { grant: 'password', user: BOB, fault: 'throttle', retryAfterSec: 2, count: 1 }
    const created = await postFault(spec)
    expect(created.status).toBe(201)
    expect(created.body.fault).toEqual(spec)
    expect(await (await fetch(`${emulator.url}/_emulator/faults`)).json()).toEqual({ faults: [spec] })
    expect((await ropc(ALICE)).status).toBe(200)
    expect((await ropc(BOB)).status).toBe(429)
    expect(await (await fetch(`${emulator.url}/_emulator/faults`)).json()).toEqual({ faults: [] })
  })

  it('refuses bad input with 400', async () => {
    for (const bad of [
      { fault: 'explode' },
      { grant: 'implicit', fault: 'throttle' },
      { fault: 'throttle', count: 0 },
      { fault: 'latency', latencyMs: -5 },
      { fault: 'claims_challenge', claims: 'not json' },
      { fault: 'throttle', surprise: true },
      ['throttle'],
    ]) {
      const answer = await postFault(bad)
      expect(answer.status, JSON.stringify(bad)).toBe(400)
      expect(answer.body.error).toBe('invalid_request')
    }
    expect(() => { emulator.addFault({ fault: 'nope' } as unknown as FaultSpec) }).toThrow(/fault must be one of/)
  })

  it('clears faults with DELETE and with reset', async () => {
    await postFault({ fault: 'unavailable' })
    await fetch(`${emulator.url}/_emulator/faults`, { method: 'DELETE' })
    expect((await obo()).status).toBe(200)
    await postFault({ fault: 'unavailable' })
    await fetch(`${emulator.url}/_emulator/reset`, { method: 'POST' })
    expect((await obo()).status).toBe(200)
  })
})
