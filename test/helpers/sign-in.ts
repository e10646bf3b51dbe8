// Drives one browser sign-in over HTTP: relay /auth/login → emulator (form, or SSO redirect) → /auth/callback.
import { expect } from 'vitest'
import { HttpBrowser, parseForm } from './browser.ts'
import type { TestStack } from './stack.ts'

export interface SignInSteps {
  /** The relay's answer to /auth/login (302 to Entra). */
  start: Response
  callbackUrl: string
}

/** Everything up to (not including) the callback, so tests can interleave or replay callbacks. */
export async function beginSignIn (stack: TestStack, browser: HttpBrowser, username: string, returnTo = '/v1/me'): Promise<SignInSteps> {
  const user = stack.emulator.users.find((u) => u.username === username)!
  const start = await browser.request(`${stack.relayUrl}/auth/login?return_to=${encodeURIComponent(returnTo)}`)
  expect(start.status).toBe(302)
  const authorizeUrl = start.headers.get('location')!
  const authorize = await browser.request(authorizeUrl)
  if (authorize.status === 302) return { start, callbackUrl: new URL(authorize.headers.get('location')!, authorizeUrl).href }
  return { start, callbackUrl: await submitSignInForm(browser, authorize, authorizeUrl, username, user.password) }
}

/**
 * Answers the emulator's pages as a person would: the sign-in form (unless its SSO cookie already signed
 * the user in) and the consent prompt Entra shows before granting anything not yet consented to.
 * Returns the redirect back to the client.
 */
export async function submitSignInForm (browser: HttpBrowser, firstPage: Response, pageUrl: string, username: string, password: string, consent: 'accept' | 'decline' = 'accept'): Promise<string> {
  let page = firstPage
  let url = pageUrl
  for (let step = 0; page.status === 200 && step < 3; step++) {
    const form = parseForm(await page.text(), url)
    const action = form.fields.emulator_action
    const answer = action === 'consent' ? { consent } : action === 'return_without_consent' ? {} : { username, password }
    page = await browser.request(form.action, { method: 'POST', body: new URLSearchParams({ ...form.fields, ...answer }) })
    url = form.action
  }
  expect(page.status).toBe(302)
  return new URL(page.headers.get('location')!, url).href
}

/** A complete sign-in in a new browser; returns the browser holding the session cookie. */
export async function signedInBrowser (stack: TestStack, username: string): Promise<HttpBrowser> {
  const browser = new HttpBrowser(stack.fetch)
  const { callbackUrl } = await beginSignIn(stack, browser, username)
  const callback = await browser.request(callbackUrl)
  expect(callback.status).toBe(302)
  return browser
}

/**
 * Follows a URL through the emulator's pages (sign-in, consent, admin approval) to the relay's callback URL, which
 * it returns unvisited: an already signed-in browser is redirected straight there, else the form is submitted.
 */
export async function throughEntra (browser: HttpBrowser, url: string, username: string, password: string, consent: 'accept' | 'decline' = 'accept'): Promise<string> {
  let current = url
  let response = await browser.request(current)
  while (response.status === 302 && !response.headers.get('location')!.includes('/auth/callback')) {
    current = new URL(response.headers.get('location')!, current).href
    response = await browser.request(current)
  }
  if (response.status === 302) return new URL(response.headers.get('location')!, current).href
  return await submitSignInForm(browser, response, current, username, password, consent)
}
