// Logs captured at debug level over a full sign-in, OBO, tool calls and failures contain no credential.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { DEV_RELAY_CLIENT_SECRET } from '../../dev/entra-emulator/index.ts'
import { HttpBrowser, parseForm } from '../helpers/browser.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

it('no token, assertion, code, cookie, secret or password reaches the logs', async () => {
  const secrets: string[] = [DEV_RELAY_CLIENT_SECRET, 'alice-password']
  const token = await stack.userToken('alice@contoso.test')
  secrets.push(token, token.split('.')[2]!)
  await stack.call('/v1/servers/notes/tools/whoami', { method: 'POST', token, body: '{"arguments":{}}' })
  await stack.call('/v1/servers/notes/tools/stepup', { method: 'POST', token, body: '{"arguments":{}}' })
  await stack.call('/v1/me', { token: `${token}x` })
  stack.emulator.addFault({ grant: 'on_behalf_of', fault: 'claims_challenge', count: 1 })
  await stack.call('/v1/servers/calendar/tools/whoami', { method: 'POST', token, body: '{"arguments":{}}' })

  const browser = new HttpBrowser(stack.fetch)
  const start = await browser.request(`${stack.relayUrl}/auth/login?return_to=/`)
  const authorizeUrl = start.headers.get('location')!
  const loginCookie = start.headers.getSetCookie().find((c) => c.includes('obo_login_'))!
  secrets.push(loginCookie.slice(loginCookie.indexOf('=') + 1, loginCookie.indexOf(';')))
  const form = parseForm(await (await browser.request(authorizeUrl)).text(), authorizeUrl)
  const posted = await browser.request(form.action, { method: 'POST', body: new URLSearchParams({ ...form.fields, username: 'alice@contoso.test', password: 'alice-password' }) })
  const callbackUrl = new URL(posted.headers.get('location')!, form.action)
  secrets.push(callbackUrl.searchParams.get('code')!, callbackUrl.searchParams.get('state')!)
  await browser.request(callbackUrl.href)
  const session = browser.cookie(stack.relayUrl, 'obo_session')!
  secrets.push(session, decodeURIComponent(session))
  await browser.request(`${stack.relayUrl}/v1/me`)
  await browser.request(`${stack.relayUrl}/v1/servers/calendar/tools/whoami`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', origin: stack.relayUrl } })

  const logs = stack.logs.join('\n')
  expect(logs.length).toBeGreaterThan(1000)
  expect(logs).toContain('"level":20') // debug lines were captured
  for (const secret of secrets) expect(logs).not.toContain(secret)
  // No JWT of any kind (user, OBO, id, refresh) in any line.
  expect(logs).not.toMatch(/eyJ[\w-]{10,}\.eyJ[\w-]{10,}/)
})
