// A standard MCP client's whole journey with nothing but the relay's URL: bare 401 → WWW-Authenticate → the
// relay's PRM → its first authorization server (the relay itself, mode B) → dynamic registration → authorization
// code + PKCE + RFC 8707 resource → the relay's consent page → the user's Entra sign-in (the emulator's form,
// driven by the script) → token → connect → tool call on /mcp and on /mcp/<server>. The client is the SDK's own
// OAuth flow, configured with nothing the relay would need to tell it.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import type { OAuthClientInformationMixed, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js'
import { authorizeInBrowser } from '../helpers/agent.ts'
import { HttpBrowser } from '../helpers/browser.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { structured } from '../helpers/mcp-clients.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

const REDIRECT = 'http://127.0.0.1:47123/callback'

function scriptedProvider (username: string): OAuthClientProvider & { code: () => string | undefined, authorizeUrls: URL[], consentPages: string[] } {
  let tokens: OAuthTokens | undefined
  let client: OAuthClientInformationMixed | undefined
  let verifier = ''
  let code: string | undefined
  const authorizeUrls: URL[] = []
  const consentPages: string[] = []
  const browser = new HttpBrowser(stack.fetch)
  return {
    redirectUrl: REDIRECT,
    clientMetadata: { redirect_uris: [REDIRECT], client_name: 'journey', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' },
    clientInformation: () => client,
    saveClientInformation: (saved) => { client = saved },
    tokens: () => tokens,
    saveTokens: (saved) => { tokens = saved },
    saveCodeVerifier: (saved) => { verifier = saved },
    codeVerifier: () => verifier,
    // The person at the browser: allow on the relay's consent page, sign in at Entra, come back with the code.
    redirectToAuthorization: async (url) => {
      authorizeUrls.push(url)
      const run = await authorizeInBrowser(stack, browser, url.href, username)
      if (run.consentPage !== undefined) consentPages.push(run.consentPage)
      code = new URL(run.finalUrl).searchParams.get('code') ?? undefined
    },
    code: () => code,
    authorizeUrls,
    consentPages,
  }
}

it('goes from a bare 401 to a tool call as alice through the relay\'s own authorization server, with no manual step', async () => {
  const alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
  const provider = scriptedProvider(alice.username)
  const url = new URL(`${stack.relayUrl}/mcp`)
  const first = new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: stack.fetch })
  await expect(new Client({ name: 'journey', version: '1' }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError)
  // The client found the relay's authorization server through the PRM, registered, and asked for the scopes the
  // 401 named, for this resource.
  const authorize = provider.authorizeUrls[0]!
  expect(authorize.origin).toBe(new URL(stack.relayUrl).origin)
  expect(authorize.searchParams.get('scope')).toBe('tools:read tools:call')
  expect(authorize.searchParams.get('resource')).toBe(url.href)
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256')
  expect(provider.consentPages[0]).toContain('journey')
  await first.finishAuth(provider.code()!)

  const client = new Client({ name: 'journey', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: stack.fetch }))
  try {
    // Both sample servers' tools, as alice.
    expect(structured(await client.callTool({ name: 'notes__whoami', arguments: {} }))).toMatchObject({ oid: alice.oid, upn: alice.username })
    expect(structured(await client.callTool({ name: 'calendar__whoami', arguments: {} }))).toMatchObject({ oid: alice.oid, upn: alice.username })
  } finally {
    await client.close()
  }

  // The same client, pointed at one server's pass-through, discovers that resource and goes through the same
  // flow for it (the consent is remembered, Entra's session too): a token for /mcp is not one for /mcp/notes.
  const notes = new URL(`${stack.relayUrl}/mcp/notes`)
  const passthrough = new Client({ name: 'journey', version: '1' })
  const second = new StreamableHTTPClientTransport(notes, { authProvider: provider, fetch: stack.fetch })
  await expect(passthrough.connect(second)).rejects.toBeInstanceOf(UnauthorizedError)
  expect(provider.authorizeUrls[1]!.searchParams.get('resource')).toBe(notes.href)
  await second.finishAuth(provider.code()!)
  const direct = new Client({ name: 'journey', version: '1' })
  await direct.connect(new StreamableHTTPClientTransport(notes, { authProvider: provider, fetch: stack.fetch }))
  try {
    expect(structured(await direct.callTool({ name: 'whoami', arguments: {} }))).toMatchObject({ oid: alice.oid })
  } finally {
    await direct.close()
  }
})

it('an MCP client that already holds an Entra token for the relay (mode A) connects with it as it is', async () => {
  const alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
  const token = await stack.userToken(alice.username)
  const client = new Client({ name: 'mode-a', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${stack.relayUrl}/mcp`), { fetch: stack.fetch, requestInit: { headers: { authorization: `Bearer ${token}` } } }))
  try {
    expect(structured(await client.callTool({ name: 'notes__whoami', arguments: {} }))).toMatchObject({ oid: alice.oid })
  } finally {
    await client.close()
  }
})
