// The consent loop: OBO to an API the user never consented to → 403 with a login_url → the user signs in
// with consent for that API → the same call (browser or agent token) now succeeds.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { DEV_RESTRICTED_APP_ID, DEV_RESTRICTED_SCOPE } from '../../dev/entra-emulator/index.ts'
import type { SampleMcpServer } from '../../dev/sample-mcp/index.ts'
import { freePort } from '../../dev/start-stack.ts'
import { readJson } from '../helpers/browser.ts'
import { signedInBrowser, submitSignInForm } from '../helpers/sign-in.ts'
import { startExtraSampleServer, startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let restricted: SampleMcpServer | undefined

beforeAll(async () => {
  const port = await freePort()
  stack = await startTestStack({ extraServers: [{ id: 'restricted', url: `http://localhost:${port}/mcp` }] })
  // An MCP server whose app does not pre-authorize the relay: every user must consent once.
  restricted = await startExtraSampleServer(stack, { port, appClientId: DEV_RESTRICTED_APP_ID, appIdUri: 'api://restricted-mcp' })
})
afterAll(async () => {
  await restricted?.close()
  await stack?.close()
})

const callWhoami = (browser: Awaited<ReturnType<typeof signedInBrowser>>) => browser.request(`${stack.relayUrl}/v1/servers/restricted/tools/whoami`, {
  method: 'POST', body: '{"arguments":{}}', headers: { 'content-type': 'application/json', origin: stack.relayUrl },
})

it('consent_required → sign in with consent for the API → the call succeeds, for the browser and for agents', async () => {
  const agentToken = await stack.userToken('bob@contoso.test')
  const browser = await signedInBrowser(stack, 'bob@contoso.test')
  const refused = await callWhoami(browser)
  expect(refused.status).toBe(403)
  const body = await readJson(refused)
  expect(body.error).toBe('consent_required')
  const loginUrl = new URL(body.login_url)
  expect(loginUrl.searchParams.get('consent_scopes')).toBe(DEV_RESTRICTED_SCOPE)
  expect((await stack.call('/v1/servers/restricted/tools/whoami', { method: 'POST', token: agentToken, body: '{}' })).status).toBe(403)

  // Following the login_url: Entra is asked for consent to the downstream API in the same sign-in.
  const start = await browser.request(loginUrl.href)
  const authorize = new URL(start.headers.get('location')!)
  expect(authorize.searchParams.get('prompt')).toBe('consent')
  expect(authorize.searchParams.get('scope')!.split(' ')).toContain(DEV_RESTRICTED_SCOPE)
  const formPage = await browser.request(authorize.href)
  expect(formPage.status).toBe(200)
  const callback = await submitSignInForm(browser, formPage, authorize.href, 'bob@contoso.test', 'bob-password')
  expect((await browser.request(callback)).status).toBe(302)

  const allowed = await callWhoami(browser)
  expect(allowed.status).toBe(200)
  expect((await readJson(allowed)).structuredContent.upn).toBe('bob@contoso.test')
  // Consent lives at Entra for the user and the relay: the agent's existing token works too.
  expect((await stack.call('/v1/servers/restricted/tools/whoami', { method: 'POST', token: agentToken, body: '{}' })).status).toBe(200)
})

it('refuses consent_scopes that no configured server uses', async () => {
  const res = await stack.call('/auth/login?prompt=consent&consent_scopes=https%3A%2F%2Fgraph.microsoft.com%2FMail.Read')
  expect(res.status).toBe(400)
  expect(res.body.error).toBe('invalid_request')
})
