// A standard MCP client's whole journey with nothing but the relay's URL (mode A, Entra as the authorization
// server the relay's PRM names): bare 401 → WWW-Authenticate → PRM → Entra metadata → authorization code + PKCE
// with the user's sign-in (the emulator's form, driven by the script) → token → connect → tool call.
// The client is the SDK's own OAuth flow; only what Entra requires of any client is configured: a pre-registered
// public client (Entra has no dynamic registration) and no RFC 8707 `resource` (Entra v2 refuses it, AADSTS9010010).
import { afterAll, beforeAll, expect, it } from 'vitest'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import type { OAuthClientInformationMixed, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js'
import { DEV_CLI_CLIENT_ID, signInWithForm } from '../../dev/entra-emulator/index.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { structured } from '../helpers/mcp-clients.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

// Entra's rule for loopback redirect URIs of public clients: any port, the registered path (here none).
const REDIRECT = 'http://127.0.0.1:47123'

function scriptedProvider (fetch: typeof globalThis.fetch, user: { username: string, password: string }): OAuthClientProvider & { code: () => string | undefined, authorizeUrls: URL[] } {
  let tokens: OAuthTokens | undefined
  let verifier = ''
  let code: string | undefined
  const authorizeUrls: URL[] = []
  return {
    redirectUrl: REDIRECT,
    clientMetadata: { redirect_uris: [REDIRECT], client_name: 'journey', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' },
    clientInformation: (): OAuthClientInformationMixed => ({ client_id: DEV_CLI_CLIENT_ID }),
    tokens: () => tokens,
    saveTokens: (saved) => { tokens = saved },
    saveCodeVerifier: (saved) => { verifier = saved },
    codeVerifier: () => verifier,
    // The person at the browser: sign in on the page the client opened, and come back with the code.
    redirectToAuthorization: async (url) => {
      authorizeUrls.push(url)
      const { redirect } = await signInWithForm(fetch, url, user)
      code = redirect.searchParams.get('code') ?? undefined
    },
    validateResourceURL: async () => undefined,
    code: () => code,
    authorizeUrls,
  }
}

it('goes from a bare 401 to a tool call as alice, with no manual step', async () => {
  const alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
  const provider = scriptedProvider(stack.fetch, { username: alice.username, password: alice.password })
  const url = new URL(`${stack.relayUrl}/mcp`)
  const first = new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: stack.fetch })
  await expect(new Client({ name: 'journey', version: '1' }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError)
  // The client found Entra through the relay's PRM and asked for the scope the 401 named.
  const authorize = provider.authorizeUrls[0]!
  expect(authorize.href.startsWith(`${stack.emulator.issuer.replace(/\/v2\.0$/, '')}/oauth2/v2.0/authorize`)).toBe(true)
  expect(authorize.searchParams.get('scope')).toContain(stack.config.relayScope)
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256')
  await first.finishAuth(provider.code()!)

  const client = new Client({ name: 'journey', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: stack.fetch }))
  try {
    expect(structured(await client.callTool({ name: 'notes__whoami', arguments: {} }))).toMatchObject({ oid: alice.oid, upn: alice.username })
  } finally {
    await client.close()
  }
})
