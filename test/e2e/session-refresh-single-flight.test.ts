// A signed-in browser whose relay-scoped token has expired fires 10 tool calls at once: Entra sees one refresh_token grant.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signedInBrowser } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import type { HttpBrowser } from '../helpers/browser.ts'

/**
 * Relay-scoped tokens of 4 minutes: under MSAL's 5-minute renewal offset, so MSAL always redeems the refresh token
 * when the relay asks it (it never answers from its cache), and over the relay's own 2-minute margin, so the relay
 * keeps the token in memory until its clock says otherwise.
 */
const LIFETIME_SEC = 240

let stack: TestStack
let clockOffsetMs = 0
const now = (): number => Date.now() + clockOffsetMs

beforeAll(async () => {
  stack = await startTestStack({ emulator: { accessTokenLifetimeSec: LIFETIME_SEC }, relay: { now } })
})
afterAll(async () => { await stack?.close() })

const refreshGrants = (): number => stack.emulator.stats().calls.refresh_token

async function whoami (browser: HttpBrowser): Promise<number> {
  const response = await browser.request(`${stack.relayUrl}/v1/servers/notes/tools/whoami`, {
    method: 'POST',
    headers: { origin: stack.relayUrl, 'content-type': 'application/json' },
    body: '{"arguments":{}}',
  })
  await response.body?.cancel()
  return response.status
}

describe('the silent refresh of a browser session', () => {
  it('10 parallel tool calls with an expired relay token: exactly one refresh_token grant at Entra', async () => {
    const browser = await signedInBrowser(stack, 'alice@contoso.test')
    // The session's first call gets the relay-scoped token from the refresh token; the next one uses it from memory.
    expect(await whoami(browser)).toBe(200)
    const warm = refreshGrants()
    expect(warm).toBeGreaterThanOrEqual(1)
    expect(await whoami(browser)).toBe(200)
    expect(refreshGrants()).toBe(warm)

    // Past the token's expiry (less the relay's 2-minute margin) by the relay's clock. Entra holds the first refresh
    // a while, so every call is in the relay before that refresh is answered.
    clockOffsetMs = (LIFETIME_SEC - 60) * 1000
    stack.emulator.addFault({ grant: 'refresh_token', fault: 'latency', latencyMs: 500, count: 1 })
    const statuses = await Promise.all(Array.from({ length: 10 }, async () => await whoami(browser)))
    expect(statuses).toEqual(Array(10).fill(200))
    expect(refreshGrants() - warm).toBe(1)

    // The refreshed token is what the session now uses: back on the real clock, no further refresh.
    clockOffsetMs = 0
    expect(await whoami(browser)).toBe(200)
    expect(refreshGrants() - warm).toBe(1)
  })
})
