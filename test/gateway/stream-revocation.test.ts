// An MCP stream ends with the credential that opened it: a revoked agent grant ends its open GET streams at once
// (on this replica), an access token revoked alone is found out by the next re-check (as another replica would
// find out about a grant), and a browser session signed out ends its streams too.
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HttpBrowser } from '../helpers/browser.ts'
import { dpopBoundTokens, dpopFetch, insecure, type IssuedTokens } from '../helpers/oauth.ts'
import { submitSignInForm } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
const RECHECK_MS = 300
beforeAll(async () => { stack = await startTestStack({ relayEnv: { STREAM_RECHECK_MS: String(RECHECK_MS) } }) })
afterAll(async () => { await stack?.close() })

type Send = (url: string, init: RequestInit) => Promise<Response>
const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' }

/** Opens a legacy session on `path` and its GET stream; resolves `ended` when the stream stops, however. */
async function openStream (send: Send, path: string): Promise<{ ended: Promise<number>, cancel: () => Promise<void> }> {
  const init = await send(`${stack.relayUrl}${path}`, {
    method: 'POST',
    headers: mcpHeaders,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'stream', version: '1' } } }),
  })
  expect(init.status).toBe(200)
  const sessionId = init.headers.get('mcp-session-id')!
  await init.body?.cancel()
  const initialized = await send(`${stack.relayUrl}${path}`, { method: 'POST', headers: { ...mcpHeaders, 'mcp-session-id': sessionId }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })
  await initialized.body?.cancel()
  const stream = await send(`${stack.relayUrl}${path}`, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' } })
  expect(stream.status).toBe(200)
  const reader = stream.body!.getReader()
  const started = Date.now()
  const ended = (async () => {
    try {
      for (;;) if ((await reader.read()).done) break
    } catch {
      // Cut: the relay destroyed the connection.
    }
    return Date.now() - started
  })()
  return { ended, cancel: async () => { await reader.cancel().catch(() => {}) } }
}

const within = async <T>(promise: Promise<T>, ms: number): Promise<T | 'still open'> =>
  await Promise.race([promise, new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), ms))])

async function revoke (issued: IssuedTokens, which: 'refresh_token' | 'access_token'): Promise<void> {
  const { raw } = issued
  const token = which === 'refresh_token' ? issued.tokens.refresh_token! : issued.tokens.access_token
  await oauth.processRevocationResponse(await oauth.revocationRequest(raw.as, raw.client, raw.auth, token, { ...insecure, additionalParameters: { token_type_hint: which } }))
}

describe('agent streams', () => {
  it('a revoked grant ends its open GET streams on /mcp and /mcp/notes at once', async () => {
    const all = await dpopBoundTokens(stack, { resource: `${stack.relayUrl}/mcp` })
    const notes = await dpopBoundTokens(stack, { resource: `${stack.relayUrl}/mcp/notes` })
    const streams = [
      await openStream(dpopFetch(stack, all.dpop, all.tokens.access_token), '/mcp'),
      await openStream(dpopFetch(stack, notes.dpop, notes.tokens.access_token), '/mcp/notes'),
    ]
    try {
      // Open, and staying open while the credential holds.
      for (const s of streams) expect(await within(s.ended, RECHECK_MS * 3)).toBe('still open')
      await revoke(all, 'refresh_token')
      expect(await within(streams[0]!.ended, RECHECK_MS * 10)).not.toBe('still open')
      // The other grant's stream is untouched.
      expect(await within(streams[1]!.ended, RECHECK_MS * 3)).toBe('still open')
      await revoke(notes, 'refresh_token')
      expect(await within(streams[1]!.ended, RECHECK_MS * 10)).not.toBe('still open')
    } finally {
      for (const s of streams) await s.cancel()
    }
  })

  it('an access token revoked alone (its grant alive) ends its stream at the next re-check', async () => {
    const issued = await dpopBoundTokens(stack, { resource: `${stack.relayUrl}/mcp/notes` })
    const stream = await openStream(dpopFetch(stack, issued.dpop, issued.tokens.access_token), '/mcp/notes')
    try {
      expect(await within(stream.ended, RECHECK_MS * 3)).toBe('still open')
      await revoke(issued, 'access_token')
      expect(await within(stream.ended, RECHECK_MS * 10)).not.toBe('still open')
    } finally {
      await stream.cancel()
    }
  })
})

describe('stream heads', () => {
  it('a GET stream through /mcp/notes has its status and headers at once, not with the server\'s first event', async () => {
    // The sample server writes nothing on its GET stream and SSE_KEEPALIVE_MS is 15 s here: the head used to wait
    // for the relay's first keep-alive comment.
    const token = await stack.userToken('alice@contoso.test')
    const send: Send = async (url, init) => await fetch(url, { ...init, headers: { ...init.headers as Record<string, string>, authorization: `Bearer ${token}` } })
    const started = Date.now()
    const stream = await openStream(send, '/mcp/notes')
    try {
      expect(Date.now() - started).toBeLessThan(5_000)
    } finally {
      await stream.cancel()
    }
  })
})

describe('browser session streams', () => {
  it('signing out ends the session\'s open stream', async () => {
    const alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
    const browser = new HttpBrowser(stack.fetch)
    const start = await browser.request(`${stack.relayUrl}/auth/login?return_to=/v1/me`)
    const authorizeUrl = start.headers.get('location')!
    const callback = await submitSignInForm(browser, await browser.request(authorizeUrl), authorizeUrl, alice.username, alice.password)
    expect((await browser.request(callback)).status).toBe(302)
    const cookie = browser.cookieHeader(`${stack.relayUrl}/mcp/notes`)
    const send: Send = async (url, init) => await fetch(url, { ...init, headers: { ...init.headers as Record<string, string>, cookie, origin: stack.relayUrl } })
    const stream = await openStream(send, '/mcp/notes')
    try {
      expect(await within(stream.ended, RECHECK_MS * 3)).toBe('still open')
      expect((await browser.request(`${stack.relayUrl}/auth/logout`, { method: 'POST', headers: { origin: stack.relayUrl } })).status).toBe(200)
      expect(await within(stream.ended, RECHECK_MS * 10)).not.toBe('still open')
    } finally {
      await stream.cancel()
    }
  })
})
