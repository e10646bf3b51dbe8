// The claims round trip: a claims challenge (from Entra during OBO, or from the MCP server) is sent back to the
// caller with a login_url; the user signs in with those claims; only then does the call succeed.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { readJson } from '../helpers/browser.ts'
import { signedInBrowser, submitSignInForm } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const STEP_UP = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

const call = (browser: Awaited<ReturnType<typeof signedInBrowser>>, tool: string) => browser.request(`${stack.relayUrl}/v1/servers/notes/tools/${tool}`, {
  method: 'POST', body: '{"arguments":{}}', headers: { 'content-type': 'application/json', origin: stack.relayUrl },
})

/** Follows a login_url in the browser as the person would, answering the emulator's pages. */
async function followLoginUrl (browser: Awaited<ReturnType<typeof signedInBrowser>>, loginUrl: string): Promise<void> {
  const start = await browser.request(loginUrl)
  expect(start.status).toBe(302)
  const authorizeUrl = start.headers.get('location')!
  const authorize = await browser.request(authorizeUrl)
  const callback = authorize.status === 302 ? new URL(authorize.headers.get('location')!, authorizeUrl).href : await submitSignInForm(browser, authorize, authorizeUrl, 'alice@contoso.test', 'alice-password')
  expect((await browser.request(callback)).status).toBe(302)
}

it('Entra\'s claims challenge during OBO is satisfied only by a sign-in with those claims', async () => {
  const browser = await signedInBrowser(stack, 'alice@contoso.test')
  const agentToken = await stack.userToken('alice@contoso.test')
  stack.emulator.addFault({ grant: 'on_behalf_of', user: 'alice@contoso.test', fault: 'claims_challenge', claims: STEP_UP })

  const challenged = await call(browser, 'whoami')
  expect(challenged.status).toBe(401)
  expect(challenged.headers.get('www-authenticate')).toContain('error="insufficient_claims"')
  const body = await readJson(challenged)
  expect(body).toMatchObject({ error: 'interaction_required', reason: 'claims_challenge' })
  expect(JSON.parse(Buffer.from(body.claims, 'base64url').toString())).toMatchObject(JSON.parse(STEP_UP))
  // The agent's token (no step-up behind it) is challenged the same way, however often it asks.
  expect((await stack.call('/v1/servers/notes/tools/whoami', { method: 'POST', token: agentToken, body: '{}' })).status).toBe(401)
  expect((await call(browser, 'whoami')).status).toBe(401)

  await followLoginUrl(browser, body.login_url)
  const after = await call(browser, 'whoami')
  expect(after.status).toBe(200)
  const claims = (await readJson(after)).structuredContent
  expect(claims.upn).toBe('alice@contoso.test')
  expect(claims.acrs).toContain('c1')
  // A token from before the step-up still is not enough.
  expect((await stack.call('/v1/servers/notes/tools/whoami', { method: 'POST', token: agentToken, body: '{}' })).status).toBe(401)
})

it('an MCP server\'s own step-up challenge: the relay asks Entra with the claims, the user steps up, the tool runs', async () => {
  stack.emulator.reset()
  const browser = await signedInBrowser(stack, 'alice@contoso.test')
  const challenged = await call(browser, 'stepup')
  expect(challenged.status).toBe(401)
  const body = await readJson(challenged)
  expect(body.reason).toBe('claims_challenge')
  await followLoginUrl(browser, body.login_url)
  const after = await call(browser, 'stepup')
  expect(after.status).toBe(200)
  expect((await readJson(after)).isError).not.toBe(true)
})
