// The agent journey over real HTTP (issue 10): register → relay consent → Entra sign-in through the emulator's
// form → DPoP-bound token → a tool call as alice through /v1 → refresh → revoke → refused, its OBO tokens gone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AgentError } from '../../cli/client/index.ts'
import { grantLogId } from '../../src/agent-auth/grants.ts'
import { agentClient, authorizeInBrowser, loginAgent } from '../helpers/agent.ts'
import { HttpBrowser } from '../helpers/browser.ts'
import { signedInBrowser } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const OPERATOR_TOKEN = 'operator-token-for-the-agent-journey-0123456789'
let stack: TestStack
let alice: { oid: string }
let account: string

beforeAll(async () => {
  stack = await startTestStack({ relayEnv: { OPERATOR_API_TOKEN: OPERATOR_TOKEN } })
  alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
  account = `${stack.emulator.tenantId}.${alice.oid}`
})
afterAll(async () => { await stack?.close() })

const grants = () => stack.relay.services.agentAuth.grants
const whoami = (structured: unknown) => (structured as { structuredContent: { oid: string, upn: string } }).structuredContent

async function refusedWith (promise: Promise<unknown>): Promise<AgentError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(AgentError)
  return err as AgentError
}

describe('agent journey', () => {
  it('registers, gets alice\'s consent and Entra sign-in, calls her tools with a DPoP-bound token, refreshes, revokes', async () => {
    const agent = await agentClient(stack, { clientName: 'journey agent' })
    try {
      const { run } = await loginAgent(stack, agent.client, 'alice@contoso.test')
      // The relay's consent page named the client, where the answer goes and what it reaches.
      expect(run.consentPage).toContain('journey agent')
      expect(run.consentPage).toMatch(/id="redirect-host"><code>127\.0\.0\.1:\d+<\/code>/)
      expect(run.consentPage).toContain(`${stack.relayUrl}/v1`)
      expect(run.consentPage).toContain('tools:call')
      // RFC 9207: the authorization response names the issuer.
      expect(new URL(run.finalUrl).searchParams.get('iss')).toBe(new URL(stack.relayUrl).origin)

      const credentials = (await agent.client.credentials())!
      expect(credentials.tokens?.token_type.toLowerCase()).toBe('dpop')
      const introspected = await agent.client.introspect('access')
      expect(introspected).toMatchObject({ active: true, client_id: credentials.clientId, sub: account, aud: `${stack.relayUrl}/v1` })
      expect((introspected.cnf as { jkt?: string } | undefined)?.jkt).toBeTruthy()

      expect(whoami(await agent.client.callTool('notes', 'whoami', {}))).toMatchObject({ oid: alice.oid, upn: 'alice@contoso.test' })
      expect(await agent.client.me()).toEqual({ tid: stack.emulator.tenantId, oid: alice.oid, name: 'Alice Example', upn: 'alice@contoso.test', mode: 'agent' })

      const [grant] = await grants().listForAccount(account)
      expect(grant).toMatchObject({ clientId: credentials.clientId, clientName: 'journey agent', resources: [`${stack.relayUrl}/v1`] })
      expect(await stack.relay.services.obo.cachedForGrant(grant!.grantId)).toBeGreaterThan(0)

      // Alice sees it on her page; signing out of the browser ends the browser session only.
      const aliceBrowser = await signedInBrowser(stack, 'alice@contoso.test')
      const page = await aliceBrowser.request(`${stack.relayUrl}/`)
      expect(await page.text()).toContain('journey agent')
      expect((await aliceBrowser.request(`${stack.relayUrl}/auth/logout`, { method: 'POST', headers: { origin: stack.relayUrl } })).status).toBe(200)
      expect(whoami(await agent.client.callTool('notes', 'whoami', {})).oid).toBe(alice.oid)

      const before = credentials.tokens!
      const refreshed = await agent.client.refresh()
      expect(refreshed.access_token).not.toBe(before.access_token)
      expect(refreshed.refresh_token).not.toBe(before.refresh_token)
      expect(whoami(await agent.client.callTool('calendar', 'whoami', {})).oid).toBe(alice.oid)
      const held = (await agent.client.credentials())!

      await agent.client.revoke()
      // Everything the agent held is refused: its access token...
      const store = (await import('../../cli/client/index.ts')).fileCredentialStore(agent.configDir, stack.relayUrl)
      await store.save(held)
      const refused = await refusedWith(agent.client.callTool('notes', 'whoami', {}))
      expect(refused.status).toBe(401)
      expect(refused.body?.reason).toMatch(/^(token_invalid|grant_revoked)$/)
      // ...its refresh token...
      expect((await refusedWith(agent.client.refresh())).kind).toBe('not_logged_in')
      // ...and the relay dropped its grant, its OBO tokens and its MCP sessions.
      expect(await grants().listForAccount(account)).toEqual([])
      expect(await stack.relay.services.obo.cachedForGrant(grant!.grantId)).toBe(0)
      const logs = stack.logs.join('')
      expect(logs).toMatch(/"audit":"grant.revoked","cause":"agent".*"mcpSessionsEnded":[1-9]/)
      // No token of the agent's ever reached the log.
      for (const secret of [before.access_token, before.refresh_token!, refreshed.access_token, refreshed.refresh_token!]) expect(logs).not.toContain(secret)
    } finally {
      await agent.close()
    }
  })

  it('a second authorization of the same agent skips a consent alice already gave, and still signs in with Entra', async () => {
    const agent = await agentClient(stack, { clientName: 'returning agent' })
    try {
      const { browser, run } = await loginAgent(stack, agent.client, 'alice@contoso.test')
      expect(run.consentPage).toContain('returning agent')
      const signInsBefore = stack.emulator.stats().calls.authorization_code
      const again = await loginAgent(stack, agent.client, 'alice@contoso.test', browser)
      expect(again.run.consentPage).toBeUndefined()
      expect(stack.emulator.stats().calls.authorization_code).toBe(signInsBefore + 1)
      expect(whoami(await agent.client.callTool('notes', 'whoami', {})).oid).toBe(alice.oid)
    } finally {
      await agent.client.logout()
      await agent.close()
    }
  })

  it('a consent remembered for alice does not let bob, signing in instead, complete the authorization', async () => {
    const { authorizationCode, authorizationUrl, registerPublicClient } = await import('../helpers/oauth.ts')
    const { submitSignInForm } = await import('../helpers/sign-in.ts')
    const raw = await registerPublicClient(stack)
    await authorizationCode(stack, raw, 'alice@contoso.test')
    // A browser with alice's relay session (so the consent page is skipped) but no Entra session: bob signs in there.
    const aliceSession = (await signedInBrowser(stack, 'alice@contoso.test')).cookie(stack.relayUrl, 'obo_session')!
    const browser = new HttpBrowser(stack.fetch)
    browser.setCookie(stack.relayUrl, 'obo_session', aliceSession)
    const { url } = await authorizationUrl(raw)
    const { response, url: at } = await browser.follow(url)
    expect(at.startsWith(stack.emulator.url)).toBe(true)
    const callback = await submitSignInForm(browser, response, at, 'bob@contoso.test', 'bob-password')
    const { url: finalUrl } = await browser.follow(callback, { stopAt: (next) => next.startsWith('http://127.0.0.1:9/') })
    expect(new URL(finalUrl).searchParams.get('error')).toBe('access_denied')
  })

  it('alice denies on the consent page: the agent gets access_denied, and no grant exists', async () => {
    const agent = await agentClient(stack, { clientName: 'unwanted agent' })
    try {
      const err = await refusedWith(agent.client.loginWithBrowser({
        openUrl: async (url) => {
          const browser = new HttpBrowser(stack.fetch)
          const run = await authorizeInBrowser(stack, browser, url, 'alice@contoso.test', { decision: 'deny' })
          expect(new URL(run.finalUrl).searchParams.get('error')).toBe('access_denied')
          await browser.request(run.finalUrl)
        },
      }))
      expect(err.kind).toBe('denied')
      expect((await grants().listForAccount(account)).some((g) => g.clientName === 'unwanted agent')).toBe(false)
    } finally {
      await agent.close()
    }
  })

  it('revoking from alice\'s page ends the agent\'s access; the page lists what is left', async () => {
    const agent = await agentClient(stack, { clientName: 'page-revoked agent' })
    try {
      await loginAgent(stack, agent.client, 'alice@contoso.test')
      expect(whoami(await agent.client.callTool('notes', 'whoami', {})).oid).toBe(alice.oid)
      const grant = (await grants().listForAccount(account)).find((g) => g.clientName === 'page-revoked agent')!
      const browser = await signedInBrowser(stack, 'alice@contoso.test')
      // A cross-site post is refused; the page's own form (Origin = the relay) revokes.
      expect((await browser.request(`${stack.relayUrl}/agents/${grantLogId(grant.grantId)}/revoke`, { method: 'POST', headers: { origin: 'https://evil.example' } })).status).toBe(403)
      const revoked = await browser.request(`${stack.relayUrl}/agents/${grantLogId(grant.grantId)}/revoke`, { method: 'POST', headers: { origin: stack.relayUrl, accept: 'text/html' } })
      expect(revoked.status).toBe(303)
      expect((await refusedWith(agent.client.callTool('notes', 'whoami', {}))).status).toBe(401)
      expect(await (await browser.request(`${stack.relayUrl}/`)).text()).not.toContain('page-revoked agent')
      expect(await stack.relay.services.obo.cachedForGrant(grant.grantId)).toBe(0)
    } finally {
      await agent.close()
    }
  })

  it('bob cannot revoke alice\'s agent', async () => {
    const agent = await agentClient(stack, { clientName: 'alice-only agent' })
    try {
      await loginAgent(stack, agent.client, 'alice@contoso.test')
      const grant = (await grants().listForAccount(account)).find((g) => g.clientName === 'alice-only agent')!
      const bob = await signedInBrowser(stack, 'bob@contoso.test')
      const answer = await bob.request(`${stack.relayUrl}/agents/${grantLogId(grant.grantId)}/revoke`, { method: 'POST', headers: { origin: stack.relayUrl } })
      expect(answer.status).toBe(400)
      expect((await answer.json() as { reason: string }).reason).toBe('grant_unknown')
      expect(whoami(await agent.client.callTool('notes', 'whoami', {})).oid).toBe(alice.oid)
    } finally {
      await agent.client.logout()
      await agent.close()
    }
  })

  it('bob cannot complete a sign-in for alice\'s grant', async () => {
    const agent = await agentClient(stack, { clientName: 'not-bobs agent' })
    try {
      await loginAgent(stack, agent.client, 'alice@contoso.test')
      const grant = (await grants().listForAccount(account)).find((g) => g.clientName === 'not-bobs agent')!
      const bob = new HttpBrowser(stack.fetch)
      const start = await bob.request(`${stack.relayUrl}/auth/login?grant=${grant.grantId}`)
      const entra = start.headers.get('location')!
      const { submitSignInForm } = await import('../helpers/sign-in.ts')
      const callback = await submitSignInForm(bob, await bob.request(entra), entra, 'bob@contoso.test', 'bob-password')
      const answer = await bob.request(callback)
      expect(answer.status).toBe(403)
      expect((await answer.json() as { reason: string }).reason).toBe('grant_account_mismatch')
      expect(whoami(await agent.client.callTool('notes', 'whoami', {})).oid).toBe(alice.oid)
    } finally {
      await agent.client.logout()
      await agent.close()
    }
  })

  it('"sign out everywhere" revokes every agent of alice and ends this browser session; the operator can too', async () => {
    const first = await agentClient(stack, { clientName: 'everywhere one' })
    const second = await agentClient(stack, { clientName: 'everywhere two' })
    try {
      await loginAgent(stack, first.client, 'alice@contoso.test')
      await loginAgent(stack, second.client, 'alice@contoso.test')
      const browser = await signedInBrowser(stack, 'alice@contoso.test')
      const out = await browser.request(`${stack.relayUrl}/agents/sign-out-everywhere`, { method: 'POST', headers: { origin: stack.relayUrl } })
      expect(out.status).toBe(200)
      expect((await refusedWith(first.client.callTool('notes', 'whoami', {}))).status).toBe(401)
      expect((await refusedWith(second.client.callTool('notes', 'whoami', {}))).status).toBe(401)
      expect((await browser.request(`${stack.relayUrl}/v1/me`)).status).toBe(401)

      await loginAgent(stack, first.client, 'alice@contoso.test')
      const operator = (token: string) => stack.call(`/admin/accounts/${account}/agent-grants`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })
      expect((await operator('not-the-operator-token')).status).toBe(401)
      const revoked = await operator(OPERATOR_TOKEN)
      expect(revoked).toMatchObject({ status: 200, body: { revoked: 1 } })
      expect((await refusedWith(first.client.callTool('notes', 'whoami', {}))).status).toBe(401)
    } finally {
      await first.close()
      await second.close()
    }
  })
})
