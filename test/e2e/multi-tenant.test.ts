// A multi-tenant relay (TENANT_ID=organizations) meets a user whose tenant has not provisioned it (AADSTS700016):
// the callback says an administrator must consent and links Entra's admin consent; once the administrator has,
// the tenant's users sign in.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { DEV_OTHER_TENANT_ID, DEV_RELAY_CLIENT_ID, DEV_TENANT_ID, defaultApps } from '../../dev/entra-emulator/index.ts'
import { HttpBrowser, readJson } from '../helpers/browser.ts'
import { throughEntra } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => {
  const apps = defaultApps().map((app) => app.clientId === DEV_RELAY_CLIENT_ID ? { ...app, signInAudience: 'AzureADMultipleOrgs' as const } : app)
  stack = await startTestStack({ emulator: { apps }, relayEnv: { TENANT_ID: 'organizations', ALLOWED_TENANTS: `${DEV_TENANT_ID},${DEV_OTHER_TENANT_ID}` } })
})
afterAll(async () => { await stack?.close() })

it('not provisioned → an admin consent link → the admin consents → users of that tenant sign in', async () => {
  const carol = new HttpBrowser(stack.fetch)
  const callback = await throughEntra(carol, `${stack.relayUrl}/auth/login?return_to=/v1/me`, 'carol@fabrikam.test', 'carol-password')
  expect(new URL(callback).searchParams.get('error_description')).toMatch(/AADSTS700016/)
  const page = await carol.request(callback, { headers: { accept: 'text/html' } })
  expect(page.status).toBe(403)
  const html = await page.text()
  expect(html).toContain('data-reason="tenant_not_provisioned"')
  const adminConsent = new URL(/id="action" href="([^"]+)"/.exec(html)![1]!.replace(/&#38;/g, '&'))
  expect(adminConsent.pathname).toBe('/organizations/v2.0/adminconsent')
  expect(adminConsent.searchParams.get('client_id')).toBe(DEV_RELAY_CLIENT_ID)

  // carol is fabrikam's administrator: she grants the relay for her tenant and lands back on the relay.
  const landing = await throughEntra(carol, adminConsent.href, 'carol@fabrikam.test', 'carol-password')
  expect(new URL(landing).searchParams.get('tenant')).toBe(DEV_OTHER_TENANT_ID)
  const granted = await carol.request(landing, { headers: { accept: 'text/html' } })
  expect(granted.status).toBe(200)
  expect(await granted.text()).toContain('data-reason="admin_consent_granted"')

  // Now dave, an ordinary user of fabrikam, signs in; the relay knows him as a fabrikam user.
  const dave = new HttpBrowser(stack.fetch)
  const signedIn = await throughEntra(dave, `${stack.relayUrl}/auth/login?return_to=/v1/me`, 'dave@fabrikam.test', 'dave-password')
  expect((await dave.request(signedIn)).status).toBe(302)
  const me = await dave.request(`${stack.relayUrl}/v1/me`)
  expect(me.status).toBe(200)
  expect(await readJson(me)).toMatchObject({ tid: DEV_OTHER_TENANT_ID, upn: 'dave@fabrikam.test', mode: 'session' })
})
