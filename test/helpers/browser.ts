// A minimal cookie-keeping HTTP "browser" to drive the sign-in over real HTTP (relay ↔ emulator form).
import type { FetchLike } from '../../src/net/http-client.ts'

export interface Hop { url: string, status: number, location?: string }

export class HttpBrowser {
  readonly cookies = new Map<string, Map<string, string>>()
  readonly hops: Hop[] = []
  readonly #fetch: FetchLike

  constructor (fetch: FetchLike) {
    this.#fetch = fetch
  }

  cookieHeader (url: string): string {
    const jar = this.cookies.get(new URL(url).host)
    return jar === undefined ? '' : [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  cookie (url: string, name: string): string | undefined {
    return this.cookies.get(new URL(url).host)?.get(name)
  }

  setCookie (url: string, name: string, value: string): void {
    const host = new URL(url).host
    const jar = this.cookies.get(host) ?? new Map<string, string>()
    jar.set(name, value)
    this.cookies.set(host, jar)
  }

  /** One request, no redirect following; stores Set-Cookie (deletions too). */
  async request (url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    const cookie = this.cookieHeader(url)
    if (cookie !== '') headers.set('cookie', cookie)
    const response = await this.#fetch(url, { ...init, headers, redirect: 'manual' })
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq).trim()
      const value = pair!.slice(eq + 1).trim()
      const expired = attrs.some((a) => /max-age=0\b/i.test(a.trim()) || /expires=Thu, 01 Jan 1970/i.test(a))
      if (expired || value === '') this.cookies.get(new URL(url).host)?.delete(name)
      else this.setCookie(url, name, value)
    }
    const location = response.headers.get('location') ?? undefined
    this.hops.push({ url, status: response.status, ...(location === undefined ? {} : { location }) })
    return response
  }

  /** Follows redirects until a non-redirect answer or `stopAt` matches the next URL. */
  async follow (url: string, options: { stopAt?: (url: string) => boolean, init?: RequestInit } = {}): Promise<{ response: Response, url: string }> {
    let current = url
    let init = options.init
    for (let i = 0; i < 10; i++) {
      const response = await this.request(current, init)
      const location = response.headers.get('location')
      if (response.status < 300 || response.status >= 400 || location === null) return { response, url: current }
      const next = new URL(location, current).href
      if (options.stopAt?.(next) === true) return { response, url: next }
      current = next
      init = undefined
    }
    throw new Error('too many redirects')
  }
}

/** Reads the first form of an HTML page: its action and every named input's value. */
export function parseForm (html: string, pageUrl: string): { action: string, method: string, fields: Record<string, string> } {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html)
  if (form === null) throw new Error('no form on the page')
  const attr = (tag: string, name: string) => new RegExp(`\\b${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i').exec(tag)
  const unescape = (v: string) => v.replace(/&quot;/g, '"').replace(/&#39;|&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&')
  const value = (m: RegExpExecArray | null) => (m === null ? undefined : unescape(m[2] ?? m[3] ?? ''))
  const fields: Record<string, string> = {}
  for (const input of form[2]!.matchAll(/<input\b[^>]*>/gi)) {
    const name = value(attr(input[0], 'name'))
    if (name !== undefined) fields[name] = value(attr(input[0], 'value')) ?? ''
  }
  return {
    action: new URL(value(attr(form[1]!, 'action')) ?? pageUrl, pageUrl).href,
    method: (value(attr(form[1]!, 'method')) ?? 'get').toUpperCase(),
    fields,
  }
}

/** A response body as JSON, typed loosely for assertions. */

export async function readJson (response: Response): Promise<any> {
  return await response.json()
}
