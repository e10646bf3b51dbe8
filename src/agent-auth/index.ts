// The agent-facing authorization server as one service: oidc-provider on the relay's store, the agent grants
// and their revocation cascade, and the verifier of the tokens it issues. Framework-free; routes/oauth.ts mounts it.
import { MetadataError } from '../net/metadata-error.ts'
import type { KoaContextWithOIDC } from 'oidc-provider'
import { Provider } from 'oidc-provider'
import type { IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import type { Config } from '../config/index.ts'
import { createKeyring } from '../crypto/keyring.ts'
import { RelayTokenVerifier } from '../caller/relay-token.ts'
import type { MsalFactory } from '../entra/msal.ts'
import type { OboService } from '../entra/obo.ts'
import type { McpClientPool } from '../mcp/client-pool.ts'
import type { SafeFetcher } from '../net/safe-fetch.ts'
import type { Store } from '../stores/types.ts'
import { createStoreAdapter, type AdapterStores } from './adapter.ts'
import { DpopNonces } from './dpop.ts'
import { AgentGrants, grantLogId, type RevocationCause } from './grants.ts'
import { cookieKeys, dpopNonceSecret, loadSigningKeys, rotateSigningKeys } from './keys.ts'
import { deviceConfirmPage, deviceInputPage, donePage, pageCsp } from './pages.ts'
import { createAgentProvider, OAUTH_ROUTES } from './provider.ts'
import { resourcePaths } from './scopes.ts'

export interface AgentAuthOptions {
  config: Config
  logger: Logger
  stores: AdapterStores
  msal: MsalFactory
  obo: OboService
  pool: McpClientPool
  /** Fetches client ID metadata documents (SSRF-safe, its own allow-list). */
  clientMetadataFetcher: SafeFetcher
  now?: () => number
}

export interface AgentAuth {
  provider: Provider
  grants: AgentGrants
  verifier: RelayTokenVerifier
  nonces: DpopNonces
  /** Fastify request ids by raw request, for the provider's error bodies. */
  requestIds: WeakMap<IncomingMessage, string>
  /** The resource indicators the relay serves (absolute URLs). */
  resources: string[]
  /** Puts new signing keys first in the shared JWKS (they sign after each replica restarts); returns the key ids. */
  rotateSigningKeys: () => Promise<string[]>
}

export async function createAgentAuth (o: AgentAuthOptions): Promise<AgentAuth> {
  const { config, logger } = o
  const issuer = config.publicUrl.origin
  const masterKey = config.tokenEncryptionKey
  const keyring = (purpose: string, compress = false) => createKeyring({ current: masterKey, previous: config.tokenEncryptionKeyPrevious, purpose, compress })
  const durable = o.stores.durable
  const requestIds = new WeakMap<IncomingMessage, string>()
  const resources = resourcePaths(config.mcpServers.map((s) => s.id)).map((path) => `${issuer}${path}`)
  const knownResources = new Set(resources)

  const grants = new AgentGrants({
    store: durable,
    keyring: keyring('agent-grant-msal', true),
    msal: o.msal,
    relayScope: config.relayScope,
    allowedTenants: config.allowedTenants,
    obo: o.obo,
    pool: o.pool,
    logger,
    grantTtlSec: config.agentAuth.refreshTokenAbsoluteTtlSec,
    consentTtlSec: config.agentAuth.consentTtlSec,
    ...(o.now === undefined ? {} : { now: o.now }),
  })
  const signing = await loadSigningKeys(durable, keyring('oidc-signing-keys'))
  const nonceSecret = dpopNonceSecret(masterKey)

  const setPageHeaders = (ctx: KoaContextWithOIDC) => {
    ctx.set('content-security-policy', pageCsp())
    ctx.set('cache-control', 'no-store')
    ctx.type = 'text/html; charset=utf-8'
  }
  const provider = createAgentProvider({
    issuer,
    config: config.agentAuth,
    adapter: createStoreAdapter({
      stores: o.stores,
      keyring: keyring('oidc-provider-store'),
      compressingKeyring: keyring('oidc-provider-store', true),
      clockToleranceSec: 15,
      onConcurrentReuse: async (model, grantId) => {
        logger.warn({ audit: 'token.reused', model, grant: grantId === undefined ? undefined : grantLogId(grantId) }, 'audit')
        if (grantId !== undefined) await grants.revoke(grantId, 'token_reuse')
      },
    }),
    jwks: signing.keys,
    cookieKeys: cookieKeys(masterKey, config.tokenEncryptionKeyPrevious),
    dpopNonceSecret: nonceSecret,
    secureCookies: config.publicUrl.protocol === 'https:',
    isKnownResource: (indicator) => knownResources.has(indicator),
    findAccount: async (accountId) => await grants.profile(accountId),
    fetch: async (url) => {
      try {
        const { status, headers, json } = await o.clientMetadataFetcher.getJson(new URL(url))
        headers.delete('content-length')
        return new Response(JSON.stringify(json), { status, headers })
      } catch (err) {
        // The provider reports only "fetch failed"; our message says why when it is about the document itself
        // (never a fetched value). Whether a host resolves, is private or answers is not told to an unauthenticated
        // caller (an oracle for internal names): that is logged only.
        const ctx = Provider.ctx
        if (ctx !== undefined && err instanceof Error) {
          const network = err instanceof MetadataError && (err.code === 'refused' || err.code === 'network' || err.code === 'timeout' || err.code === 'http_status')
          ;(ctx.state as { cimdRefusal?: string }).cimdRefusal = network ? 'it could not be fetched from that URL' : err.message
          if (network) logger.info({ reason: (err as MetadataError).code, detail: err.message }, 'client metadata document not fetched')
        }
        throw err
      }
    },
    corsAllowedOrigins: config.corsAllowedOrigins,
    logger,
    requestIdOf: (ctx) => requestIds.get(ctx.req),
    pages: {
      userCodeInput: (ctx, form, error) => { setPageHeaders(ctx); ctx.body = deviceInputPage(form, error) },
      userCodeConfirm: (ctx, form, clientName, userCode) => { setPageHeaders(ctx); ctx.body = deviceConfirmPage(form, clientName, userCode) },
      deviceSuccess: (ctx, clientName) => { setPageHeaders(ctx); ctx.body = donePage('Agent connected', `${clientName ?? 'The agent'} can now act for you. You can close this page.`) },
    },
  })

  // oidc-provider's half of a revocation we start (the page, sign out everywhere, the operator): as its own revoke().
  grants.bindProvider(async (grantId) => {
    await Promise.all([provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode, provider.DeviceCode].map(async (model) => {
      await (model as unknown as { adapter: { revokeByGrantId: (id: string) => Promise<void> } }).adapter.revokeByGrantId(grantId)
    }))
    await (provider.Grant as unknown as { adapter: { destroy: (id: string) => Promise<void> } }).adapter.destroy(grantId)
  })

  // The provider revoked a grant (refresh token or code reuse, the revocation endpoint): the rest of the cascade,
  // finished before the provider's answer leaves (the middleware below waits for it).
  const cascades = new WeakMap<object, Array<Promise<void>>>()
  provider.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
    const route = ctx.oidc?.route
    const cause: RevocationCause = route === 'token' ? 'token_reuse' : route === 'revocation' ? 'agent' : 'provider'
    if (cause === 'token_reuse') logger.warn({ audit: 'token.reused', grant: grantLogId(grantId), clientId: ctx.oidc?.client?.clientId, grantType: ctx.oidc?.params?.grant_type }, 'audit')
    const running = grants.revoke(grantId, cause, { atProvider: false }).catch((err: unknown) => { logger.error({ err, grant: grantLogId(grantId) }, 'revocation cascade failed') })
    cascades.set(ctx, [...cascades.get(ctx) ?? [], running])
  })
  provider.use(async (ctx, next) => {
    await next()
    const running = cascades.get(ctx)
    if (running !== undefined) await Promise.all(running)
  })

  // RFC 7591 registration: a fixed window per client address (TRUST_PROXY decides the address).
  const limit = config.agentAuth.registrationRateLimitPerHour
  provider.use(async (ctx, next) => {
    if (limit > 0 && ctx.method === 'POST' && ctx.path === OAUTH_ROUTES.registration) {
      const window = Math.floor(Date.now() / 3_600_000)
      const count = await (o.stores.counters ?? o.stores.transient).increment(`agent:registrations:${registrationBucket(ctx.ip)}:${window}`, 3_600_000)
      if (count > limit) {
        ctx.status = 429
        ctx.set('retry-after', String(3600 - Math.floor((Date.now() / 1000) % 3600)))
        ctx.body = { error: 'temporarily_unavailable', error_description: `At most ${limit} client registrations per hour from one address.` }
        return
      }
    }
    await next()
  })

  const verifier = new RelayTokenVerifier({
    publicUrl: config.publicUrl,
    findAccessToken: async (value) => {
      const token = await provider.AccessToken.find(value)
      if (token === undefined || !token.isValid || typeof token.grantId !== 'string' || typeof token.accountId !== 'string') return undefined
      return {
        clientId: token.clientId as string,
        accountId: token.accountId,
        grantId: token.grantId,
        audience: typeof token.aud === 'string' ? token.aud : undefined,
        scopes: token.scopes,
        jkt: typeof token.jkt === 'string' ? token.jkt : undefined,
        expiresAt: typeof token.exp === 'number' ? token.exp : undefined,
      }
    },
    grantAlive: async (grantId) => await provider.Grant.find(grantId) !== undefined,
    grants,
    nonces: new DpopNonces(nonceSecret, o.now),
    replay: o.stores.transient,
    ...(o.now === undefined ? {} : { now: o.now }),
  })

  return {
    provider,
    grants,
    verifier,
    nonces: new DpopNonces(nonceSecret, o.now),
    requestIds,
    resources,
    rotateSigningKeys: async () => (await rotateSigningKeys(durable, keyring('oidc-signing-keys'))).keys.map((key) => String(key.kid)),
  }
}

export type { AdapterStores } from './adapter.ts'
export type { Store }

/**
 * The address a registration is counted against: an IPv4 address itself, an IPv6 address by its /64 (one
 * subscriber's allocation; counting single IPv6 addresses would let one host register without limit).
 */
export function registrationBucket (ip: string): string {
  const address = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip
  if (!address.includes(':')) return address
  const [head = '', tail = ''] = address.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === '' ? [] : tail.split(':')
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`
}
