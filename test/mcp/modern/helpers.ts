// Real RS256 tokens from a locally generated key, checked by the sample servers' jose-based validator.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose'
import { validateAccessToken, type AccessTokenPolicy } from '../../../dev/sample-mcp/auth.ts'
import type { ModernMcpCaller } from '../../fixtures/modern-mcp-server.ts'

export const TENANT_ID = '11111111-1111-1111-1111-111111111111'
export const ISSUER = `https://login.microsoftonline.com/${TENANT_ID}/v2.0`
export const AUDIENCE = 'api://modern-mcp'
export const USERS = {
  alice: { oid: 'aaaaaaaa-0000-0000-0000-000000000001', preferred_username: 'alice@contoso.test' },
  bob: { oid: 'bbbbbbbb-0000-0000-0000-000000000002', preferred_username: 'bob@contoso.test' },
} as const

export interface TestTokens {
  validateToken: (token: string) => Promise<ModernMcpCaller>
  tokenFor: (user: keyof typeof USERS, claims?: JWTPayload) => Promise<string>
  /** A well-formed token signed by a key the server does not trust. */
  foreignToken: () => Promise<string>
}

export async function createTestTokens (): Promise<TestTokens> {
  const trusted = await generateKeyPair('RS256')
  const foreign = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(trusted.publicKey)), kid: 'trusted', alg: 'RS256', use: 'sig' }
  const keySet = createLocalJWKSet({ keys: [jwk] })
  const policy: AccessTokenPolicy = { issuer: ISSUER, tenantId: TENANT_ID, audiences: [AUDIENCE], requiredScope: 'user_impersonation', clockToleranceSec: 60 }
  const sign = async (key: CryptoKey, kid: string, user: keyof typeof USERS, claims: JWTPayload = {}): Promise<string> =>
    await new SignJWT({ ver: '2.0', tid: TENANT_ID, scp: 'user_impersonation', ...USERS[user], ...claims })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key)
  return {
    validateToken: async (token) => {
      const { oid, upn } = await validateAccessToken(token, keySet, policy)
      return upn === undefined ? { oid } : { oid, upn }
    },
    tokenFor: async (user, claims) => await sign(trusted.privateKey, 'trusted', user, claims),
    foreignToken: async () => await sign(foreign.privateKey, 'trusted', 'alice'),
  }
}

/** The `_meta` every modern request carries, written out as the spec's examples do. */
export function metaOf (version = '2026-07-28', capabilities: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': version,
    'io.modelcontextprotocol/clientInfo': { name: 'ExampleClient', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': capabilities,
  }
}

export interface RawAnswer { status: number, headers: Headers, text: string, json: unknown }

/** A raw POST with exactly these headers and this body. */
export async function rawPost (url: string, headers: Record<string, string>, body: unknown): Promise<RawAnswer> {
  const response = await fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })
  const text = await response.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, headers: response.headers, text, json }
}

export interface LocalServer { url: string, server: Server, close: () => Promise<void> }

/** A plain node:http server on loopback (for hostile and stub servers). */
export async function startLocalServer (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<LocalServer> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    server,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The JSON body of a request to a stub server. */
export async function readJson (req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk)
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
}
