// Consent as Entra enforces it: a user who declines, a tenant where users may not consent (an administrator
// must), and the administrator's consent landing back on the relay — each a clear answer, never a silent grant.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { DEV_RESTRICTED_APP_ID, DEV_RESTRICTED_SCOPE } from '../../dev/entra-emulator/index.ts'
import type { SampleMcpServer } from '../../dev/sample-mcp/index.ts'
import { freePort } from '../../dev/start-stack.ts'
import { readJson, type HttpBrowser } from '../helpers/browser.ts'
import { signedInBrowser, throughEntra } from '../helpers/sign-in.ts'
import { startExtraSampleServer, startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let restricted: SampleMcpServer | undefined
beforeAll(async () => {
  const port = await freePort()
  stack = await startTestStack({ extraServers: [{ id: 'restricted', url: `http://localhost:${port}/mcp` }] })
  restricted = await startExtraSampleServer(stack, { port, appClientId: DEV_RESTRICTED_APP_ID, appIdUri: 'api://restricted-mcp' })
})
afterAll(async () => {
  await restricted?.close()
  await stack?.close()
})

const callRestricted = (browser: HttpBrowser) => browser.request(`${stack.relayUrl}/v1/servers/restricted/tools/whoami`, {
  method: 'POST', body: '{"arguments":{}}', headers: { 'content-type': 'application/json', origin: stack.relayUrl },
})

it('a user who declines the consent prompt: 403 consent_declined, a page saying so, no session change', async () => {
  const browser = await signedInBrowser(stack, 'bob@contoso.test')
  const refused = await readJson(await callRestricted(browser))
  expect(refused.reason).toBe('consent_required')
  const callback = await throughEntra(browser, refused.login_url, 'bob@contoso.test', 'bob-password', 'decline')
  expect(new URL(callback).searchParams.get('error_description')).toMatch(/AADSTS65004/)
  const page = await browser.request(callback, { headers: { accept: 'text/html' } })
  expect(page.status).toBe(403)
  const html = await page.text()
  expect(html).toContain('data-reason="consent_declined"')
  expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
  // Still signed in, still without the grant.
  expect((await callRestricted(browser)).status).toBe(403)
})

it('users may not consent in this tenant: the user is told an administrator must; the admin grants; then it works', async () => {
  stack.emulator.registry.setUserConsent(false)
  const browser = await signedInBrowser(stack, 'alice@contoso.test')
  const refused = await readJson(await callRestricted(browser))
  expect(refused.reason).toBe('consent_required')
  const callback = await throughEntra(browser, refused.login_url, 'alice@contoso.test', 'alice-password', 'accept')
  expect(new URL(callback).searchParams.get('error_description')).toMatch(/AADSTS90094/)
  const answer = await browser.request(callback)
  expect(answer.status).toBe(403)
  const body = await readJson(answer)
  expect(body).toMatchObject({ error: 'consent_required', reason: 'admin_consent_required' })
  const adminConsent = new URL(body.login_url)
  expect(adminConsent.pathname).toMatch(/\/v2\.0\/adminconsent$/)
  expect(adminConsent.searchParams.get('scope')).toBe(DEV_RESTRICTED_SCOPE)
  expect(adminConsent.searchParams.get('redirect_uri')).toBe(`${stack.relayUrl}/auth/callback`)

  // The administrator follows that link, signs in and grants for the tenant; Entra sends them back to the relay.
  const admin = await signedInBrowser(stack, 'admin@contoso.test')
  const landing = await throughEntra(admin, adminConsent.href, 'admin@contoso.test', 'admin-password', 'accept')
  expect(new URL(landing).searchParams.get('admin_consent')).toBe('True')
  const page = await admin.request(landing, { headers: { accept: 'text/html' } })
  expect(page.status).toBe(200)
  expect(await page.text()).toContain('data-reason="admin_consent_granted"')

  // Now alice's call works, without another sign-in.
  expect((await callRestricted(browser)).status).toBe(200)
})
