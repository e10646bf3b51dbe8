// Drives an agent's authorization in a scripted browser: the relay's consent page (allow or deny), the Entra
// emulator's sign-in form and consent prompt, /auth/callback, and back through the provider to the agent.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import { fileCredentialStore, RelayAgentClient } from '../../cli/client/index.ts'
import { HttpBrowser, parseForm } from './browser.ts'
import { submitSignInForm } from './sign-in.ts'
import type { TestStack } from './stack.ts'

export interface ConsentRun {
  /** The consent page's HTML (undefined when a remembered consent skipped it). */
  consentPage: string | undefined
  /** Where the relay finally sends the browser: the agent's redirect URI with code/state/iss, or error. */
  finalUrl: string
  /** The last response (the device flow ends on a relay page). */
  last: Response
}

/**
 * From the authorization URL (or a device verification page's continuation) to the agent: allow (or deny) on the
 * consent page, sign in at the emulator, and follow the relay's redirects until they leave the relay.
 */
export async function authorizeInBrowser (stack: TestStack, browser: HttpBrowser, startUrl: string, username: string, options: { decision?: 'allow' | 'deny', stopAtAgent?: boolean } = {}): Promise<ConsentRun> {
  const user = stack.emulator.users.find((u) => u.username === username)!
  const leavesRelay = (url: string) => !url.startsWith(stack.relayUrl) && !url.startsWith(stack.emulator.url)
  let { response, url } = await browser.follow(startUrl, { stopAt: leavesRelay })
  let consentPage: string | undefined
  if (response.status === 200 && url.includes('/oauth/interaction/')) {
    consentPage = await response.text()
    const form = parseForm(consentPage, url)
    const action = options.decision === 'deny' ? form.action.replace(/\/confirm$/, '/abort') : form.action
    response = await browser.request(action, { method: 'POST', body: new URLSearchParams(form.fields), headers: { origin: stack.relayUrl } })
    expect(response.status).toBe(303)
    url = new URL(response.headers.get('location')!, action).href
    if (options.decision === 'deny') return await finishAt(browser, url, leavesRelay, consentPage)
    ;({ response, url } = await browser.follow(url, { stopAt: leavesRelay }))
  }
  if (leavesRelay(url)) return { consentPage, finalUrl: url, last: response }
  if (url.startsWith(stack.emulator.url) && response.status === 200) {
    url = await submitSignInForm(browser, response, url, username, user.password)
    return await finishAt(browser, url, leavesRelay, consentPage)
  }
  return { consentPage, finalUrl: url, last: response }
}

async function finishAt (browser: HttpBrowser, url: string, leavesRelay: (url: string) => boolean, consentPage: string | undefined): Promise<ConsentRun> {
  if (leavesRelay(url)) return { consentPage, finalUrl: url, last: new Response(null) }
  const { response, url: finalUrl } = await browser.follow(url, { stopAt: leavesRelay })
  return { consentPage, finalUrl, last: response }
}

export interface AgentFixture {
  client: RelayAgentClient
  configDir: string
  close: () => Promise<void>
}

/** A RelayAgentClient with its own credentials directory. */
export async function agentClient (stack: TestStack, options: { clientName?: string, scope?: string, initialAccessToken?: string } = {}): Promise<AgentFixture> {
  const configDir = await mkdtemp(join(tmpdir(), 'obo-agent-'))
  const client = new RelayAgentClient({
    relayUrl: stack.relayUrl,
    store: fileCredentialStore(configDir, stack.relayUrl),
    ...(options.clientName === undefined ? {} : { clientName: options.clientName }),
    ...(options.scope === undefined ? {} : { scope: options.scope }),
    ...(options.initialAccessToken === undefined ? {} : { initialAccessToken: options.initialAccessToken }),
  })
  return { client, configDir, close: async () => { await rm(configDir, { recursive: true, force: true }) } }
}

/** Alice's side of a device sign-in: enter the code at the verification page, confirm, allow, sign in. */
export async function enterDeviceCode (stack: TestStack, browser: HttpBrowser, verificationUri: string, userCode: string, username: string): Promise<ConsentRun> {
  const inputPage = await browser.request(verificationUri)
  expect(inputPage.status).toBe(200)
  const inputForm = parseForm(await inputPage.text(), verificationUri)
  const confirmPage = await browser.request(inputForm.action, { method: 'POST', body: new URLSearchParams({ ...inputForm.fields, user_code: userCode }) })
  expect(confirmPage.status).toBe(200)
  const confirmForm = parseForm(await confirmPage.text(), inputForm.action)
  const toInteraction = await browser.request(confirmForm.action, { method: 'POST', body: new URLSearchParams(confirmForm.fields) })
  expect(toInteraction.status).toBe(303)
  return await authorizeInBrowser(stack, browser, new URL(toInteraction.headers.get('location')!, confirmForm.action).href, username)
}

/** Logs an agent in as `username` through the browser flow; returns the browser (it holds the Entra SSO cookie). */
export async function loginAgent (stack: TestStack, client: RelayAgentClient, username: string, browser = new HttpBrowser(stack.fetch)): Promise<{ browser: HttpBrowser, run: ConsentRun }> {
  let run: ConsentRun | undefined
  await client.loginWithBrowser({
    openUrl: async (url) => {
      run = await authorizeInBrowser(stack, browser, url, username)
      // The agent's loopback callback.
      const answer = await browser.request(run.finalUrl)
      expect(answer.status).toBe(200)
    },
  })
  return { browser, run: run! }
}
