// The device authorization grant (RFC 8628) end to end: a headless agent shows a code, alice enters it at the
// relay's /oauth/device page, confirms, allows on the consent page, signs in with Entra, and the agent's poll
// gets a DPoP-bound token that calls her tools. Plus the registration policy (initial access token, rate limit).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentClient, authorizeInBrowser, enterDeviceCode } from '../helpers/agent.ts'
import { HttpBrowser, parseForm } from '../helpers/browser.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const INITIAL_ACCESS_TOKEN = 'initial-access-token-for-registration-0123456789'
let stack: TestStack
let alice: { oid: string }

beforeAll(async () => {
  stack = await startTestStack({ relayEnv: { AGENT_REGISTRATION_INITIAL_ACCESS_TOKEN: INITIAL_ACCESS_TOKEN, AGENT_REGISTRATION_RATE_LIMIT: '3' } })
  alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
})
afterAll(async () => { await stack?.close() })

/** Registers a device-flow client with the initial access token (the relay under test requires one). */
async function registerDeviceClient (): Promise<string> {
  const response = await fetch(`${stack.relayUrl}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${INITIAL_ACCESS_TOKEN}` },
    body: JSON.stringify({ client_name: 'headless agent', application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none', grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], response_types: [] }),
  })
  expect(response.status).toBe(201)
  return (await response.json() as { client_id: string }).client_id
}

describe('device flow', () => {
  it('code on the agent, confirmation and consent in the browser, a DPoP-bound token on the agent', async () => {
    const clientId = await registerDeviceClient()
    const oauth = await import('oauth4webapi')
    const { discover, dpopKey, insecure, withNonceRetry, proof, callRelay } = await import('../helpers/oauth.ts')
    const as = await discover(stack)
    const client = { client_id: clientId, token_endpoint_auth_method: 'none' }
    const device = await oauth.processDeviceAuthorizationResponse(as, client, await oauth.deviceAuthorizationRequest(as, client, oauth.None(), { scope: 'tools:read tools:call', resource: `${stack.relayUrl}/v1` }, insecure))
    expect(device.verification_uri).toBe(`${stack.relayUrl}/oauth/device`)
    expect(device.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)

    const key = await dpopKey()
    const handle = key.handle(client)
    const poll = async () => await withNonceRetry(async () => await oauth.processDeviceCodeResponse(as, client, await oauth.deviceCodeGrantRequest(as, client, oauth.None(), device.device_code, { ...insecure, DPoP: handle })))
    const pending = await poll().then(() => undefined, (err: unknown) => err)
    expect((pending as { error?: string }).error).toBe('authorization_pending')

    // Alice, in a browser: enter the code, confirm the device, allow, sign in.
    const browser = new HttpBrowser(stack.fetch)
    const inputPage = await browser.request(device.verification_uri)
    expect(inputPage.status).toBe(200)
    expect(inputPage.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    const inputForm = parseForm(await inputPage.text(), device.verification_uri)
    const confirmPage = await browser.request(inputForm.action, { method: 'POST', body: new URLSearchParams({ ...inputForm.fields, user_code: device.user_code }) })
    expect(confirmPage.status).toBe(200)
    const confirmHtml = await confirmPage.text()
    expect(confirmHtml).toContain('headless agent')
    expect(confirmHtml).toContain(device.user_code)
    const confirmForm = parseForm(confirmHtml, inputForm.action)
    const toInteraction = await browser.request(confirmForm.action, { method: 'POST', body: new URLSearchParams(confirmForm.fields) })
    expect(toInteraction.status).toBe(303)
    const run = await authorizeInBrowser(stack, browser, new URL(toInteraction.headers.get('location')!, confirmForm.action).href, 'alice@contoso.test')
    expect(run.consentPage).toContain('this device')
    expect(run.last.status).toBe(200)
    expect(await run.last.text()).toContain('headless agent can now act for you')

    const tokens = await poll()
    expect(tokens.token_type.toLowerCase()).toBe('dpop')
    const url = `${stack.relayUrl}/v1/servers/notes/tools/whoami`
    const call = await callRelay(stack, '/v1/servers/notes/tools/whoami', { method: 'POST', token: tokens.access_token, body: { arguments: {} }, proof: await proof(key, { htm: 'POST', htu: url, nonce: stack.relay.services.agentAuth.nonces.next() }, tokens.access_token) })
    expect(call.status).toBe(200)
    expect(call.body.structuredContent.oid).toBe(alice.oid)
  })

  it('a wrong user code is shown again with an error, in the relay\'s page', async () => {
    const browser = new HttpBrowser(stack.fetch)
    const inputPage = await browser.request(`${stack.relayUrl}/oauth/device`)
    const form = parseForm(await inputPage.text(), `${stack.relayUrl}/oauth/device`)
    const again = await browser.request(form.action, { method: 'POST', body: new URLSearchParams({ ...form.fields, user_code: 'BCDF-GHJK' }) })
    expect(again.headers.get('content-type')).toContain('text/html')
    expect(await again.text()).toContain('That code is not right')
  })

  it('the TypeScript client registers with the initial access token and logs in with the device flow', async () => {
    const agent = await agentClient(stack, { clientName: 'device client', initialAccessToken: INITIAL_ACCESS_TOKEN })
    try {
      const browser = new HttpBrowser(stack.fetch)
      await agent.client.loginWithDevice({
        show: async ({ userCode, verificationUri }) => {
          const run = await enterDeviceCode(stack, browser, verificationUri, userCode, 'alice@contoso.test')
          expect(await run.last.text()).toContain('device client can now act for you')
        },
      })
      const who = await agent.client.callTool('calendar', 'whoami', {}) as { structuredContent: { oid: string } }
      expect(who.structuredContent.oid).toBe(alice.oid)
    } finally {
      await agent.client.logout()
      await agent.close()
    }
  })
})

describe('registration policy', () => {
  it('registration without the initial access token → invalid_token; beyond the rate limit → 429 with Retry-After', async () => {
    const attempt = async (withToken: boolean) => await fetch(`${stack.relayUrl}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(withToken ? { authorization: `Bearer ${INITIAL_ACCESS_TOKEN}` } : {}) },
      body: JSON.stringify({ redirect_uris: ['https://agent.example/callback'], token_endpoint_auth_method: 'none' }),
    })
    const noToken = await attempt(false)
    expect(noToken.status).toBe(401)
    expect(await noToken.json()).toMatchObject({ error: 'invalid_token', reason: 'registration_token_invalid' })
    let limited: Response | undefined
    for (let i = 0; i < 6 && limited === undefined; i++) {
      const answer = await attempt(true)
      if (answer.status === 429) limited = answer
    }
    expect(limited?.status).toBe(429)
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await limited!.json()).toMatchObject({ error: 'temporarily_unavailable', reason: 'oauth_temporarily_unavailable' })
  })
})
