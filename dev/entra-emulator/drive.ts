// Driving the emulator's sign-in like a browser, over plain HTTP: for tests and scripts (no real browser).
import { createHash, randomBytes } from 'node:crypto'

export interface PkcePair {
  verifier: string
  challenge: string
}

/** @see RFC 7636 §4.1-4.2 (S256) */
export function createPkcePair (): PkcePair {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

export interface SignInForm {
  action: string
  hidden: Record<string, string>
  error: string | undefined
}

function decodeHtml (value: string): string {
  return value.replace(/&#(\d+);/g, (_match, code: string) => String.fromCharCode(Number(code)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
}

/** Reads the emulator's sign-in page (or an error page: then `action` is empty and `error` says why). */
export function readSignInForm (html: string): SignInForm {
  const hidden: Record<string, string> = {}
  for (const match of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    hidden[decodeHtml(match[1] ?? '')] = decodeHtml(match[2] ?? '')
  }
  const action = /<form method="post" action="([^"]*)"/.exec(html)?.[1]
  const error = /<p id="error" role="alert">([\s\S]*?)<\/p>/.exec(html)?.[1]
  return {
    action: action === undefined ? '' : decodeHtml(action),
    hidden,
    error: error === undefined ? undefined : decodeHtml(error.replace(/<br>/g, '\n')),
  }
}

export interface SignInResult {
  /** Where the emulator sends the browser back (the client's redirect URI with `code` or `error`). */
  redirect: URL
  /** The SSO session cookie (`name=value`), for a later authorize request without the form. */
  sessionCookie: string | undefined
}

export interface SignInOptions {
  /** An SSO session cookie to send with the first request. */
  cookie?: string
  /** What to do on a consent prompt: `accept` (default) or `decline`; a "Need admin approval" page is always left. */
  consent?: 'accept' | 'decline'
}

/**
 * GET the authorize URL, fill in the form, POST it (and answer a consent prompt), and return the redirect
 * (302 Location). Throws with the page's message when the emulator shows an error page or the form again.
 */
export async function signInWithForm (fetch: typeof globalThis.fetch, authorizeUrl: string | URL,
  credentials: { username: string, password: string }, options: SignInOptions = {}): Promise<SignInResult> {
  const headers: Record<string, string> = options.cookie === undefined ? {} : { cookie: options.cookie }
  const first = await fetch(authorizeUrl, { redirect: 'manual', headers })
  const firstLocation = first.headers.get('location')
  if (first.status === 302 && firstLocation !== null) {
    await first.body?.cancel()
    return { redirect: new URL(firstLocation), sessionCookie: options.cookie }
  }
  const form = readSignInForm(await first.text())
  if (form.action === '') throw new Error(`no sign-in form (HTTP ${first.status}): ${form.error ?? 'unexpected page'}`)
  const post = async (action: string, fields: Record<string, string>) => await fetch(new URL(action, authorizeUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  })
  let posted = await post(form.action, { ...form.hidden, username: credentials.username, password: credentials.password })
  const signInCookie = posted.headers.get('set-cookie')
  if (posted.status === 200) {
    const html = await posted.text()
    const prompt = readSignInForm(html)
    if (prompt.hidden.emulator_action === 'consent') {
      posted = await post(prompt.action, { ...prompt.hidden, consent: options.consent ?? 'accept' })
    } else if (prompt.hidden.emulator_action === 'return_without_consent') {
      posted = await post(prompt.action, prompt.hidden)
    } else {
      throw new Error(`sign-in failed (HTTP 200): ${prompt.error ?? 'no redirect'}`)
    }
  }
  const location = posted.headers.get('location')
  if (posted.status !== 302 || location === null) {
    const again = readSignInForm(await posted.text())
    throw new Error(`sign-in failed (HTTP ${posted.status}): ${again.error ?? 'no redirect'}`)
  }
  await posted.body?.cancel()
  const setCookie = posted.headers.get('set-cookie') ?? signInCookie
  return { redirect: new URL(location), sessionCookie: setCookie === null ? undefined : setCookie.split(';')[0] }
}

export interface TokenAnswer {
  status: number
  body: Record<string, unknown>
  headers: Headers
}

/** POSTs form parameters to a token endpoint and reads the JSON answer, whatever its status. */
export async function requestToken (fetch: typeof globalThis.fetch, tokenEndpoint: string, params: Record<string, string>,
  headers: Record<string, string> = {}): Promise<TokenAnswer> {
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params),
  })
  return { status: response.status, body: await response.json() as Record<string, unknown>, headers: response.headers }
}
