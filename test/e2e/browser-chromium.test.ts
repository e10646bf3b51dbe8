// The sign-in and the page at / in a real headless Chromium (found or installed by test/setup/provision.ts, driven by playwright-core).
import { afterAll, beforeAll, expect, inject, it } from 'vitest'
import { chromium, type Browser } from 'playwright-core'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const CHROMIUM = inject('chromiumPath')
let stack: TestStack
let browser: Browser

beforeAll(async () => {
  stack = await startTestStack()
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})
afterAll(async () => {
  await browser?.close()
  await stack?.close()
})

it('a person signs in, sees identity, servers and tools, and calls whoami from the form', async () => {
  // Only this test browser skips the check for the emulator's self-signed CA; the relay always verifies it.
  const context = await browser.newContext({ ignoreHTTPSErrors: true })
  context.setDefaultTimeout(8000)
  const page = await context.newPage()
  await page.goto(stack.relayUrl)
  await page.click('#sign-in')
  await page.waitForURL((url) => url.href.startsWith(stack.emulator.url))
  await page.fill('input[name="username"]', 'alice@contoso.test')
  await page.fill('input[name="password"]', 'alice-password')
  await Promise.all([page.waitForURL(`${stack.relayUrl}/`), page.click('button[type="submit"], input[type="submit"]')])

  const alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
  expect(await page.textContent('#oid')).toBe(alice.oid)
  // Locator waits: the page's CSP forbids eval, which string predicates would need.
  await page.locator('#tools-notes', { hasText: 'whoami' }).waitFor()
  await page.locator('#tools-calendar', { hasText: 'whoami' }).waitFor()
  await page.selectOption('#call-server', 'notes')
  await page.selectOption('#call-tool', 'whoami')
  await page.click('#call-form button[type="submit"]')
  await page.locator('#call-result', { hasText: 'HTTP 200' }).waitFor()
  expect(await page.textContent('#call-result')).toContain(alice.oid)

  await page.click('form[action="/auth/logout"] button')
  await page.waitForSelector('#sign-in')
  await context.close()
})
