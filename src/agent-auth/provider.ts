// The agent-facing authorization server (DESIGN §5): oidc-provider configured for agents and MCP clients.
// Every feature below is documented in oidc-provider's docs/README.md; the comments say why we chose it.
import { Provider, errors, type Adapter, type Configuration, type JWK, type KoaContextWithOIDC } from 'oidc-provider'
import type { Logger } from 'pino'
import type { AgentAuthConfig } from '../config/agent-auth.ts'
import { isProviderErrorBody, reasonForProviderError } from './errors.ts'
import { AGENT_SCOPES, OIDC_SCOPES, RESOURCE_SCOPES } from './scopes.ts'

/** Every endpoint lives under `/oauth` (the issuer is PUBLIC_URL itself; metadata at the root well-known paths). */
export const OAUTH_ROUTES = {
  authorization: '/oauth/authorize',
  token: '/oauth/token',
  userinfo: '/oauth/userinfo',
  jwks: '/oauth/jwks',
  registration: '/oauth/register',
  revocation: '/oauth/revoke',
  introspection: '/oauth/introspect',
  device_authorization: '/oauth/device_authorization',
  code_verification: '/oauth/device',
  pushed_authorization_request: '/oauth/par',
  end_session: '/oauth/end_session',
  backchannel_authentication: '/oauth/backchannel',
  challenge: '/oauth/challenge',
  credential: '/oauth/credential',
} as const

export const INTERACTION_PATH = '/oauth/interaction'

export interface AccountProfile {
  tid: string
  oid: string
  upn: string | undefined
  name: string | undefined
}

export interface AgentProviderOptions {
  /** PUBLIC_URL's origin: the issuer identifier. */
  issuer: string
  config: AgentAuthConfig
  adapter: (model: string) => Adapter
  jwks: JWK[]
  cookieKeys: string[]
  dpopNonceSecret: Buffer
  secureCookies: boolean
  /** Absolute resource indicators tokens may be restricted to: PUBLIC_URL/v1, /mcp, /mcp/<server>. */
  isKnownResource: (indicator: string) => boolean
  findAccount: (accountId: string) => Promise<AccountProfile | undefined>
  /** SSRF-safe fetch for client ID metadata documents and client `jwks_uri`s. */
  fetch: (url: string, init: RequestInit) => Promise<Response>
  /** Origins allowed to call the token, revocation, introspection, PAR and userinfo endpoints from a browser. */
  corsAllowedOrigins: readonly string[]
  logger: Logger
  /** Device-flow pages (HTML) in the relay's look. */
  pages: {
    userCodeInput: (ctx: KoaContextWithOIDC, form: string, error: 'invalid' | 'aborted' | 'failed' | undefined) => void
    userCodeConfirm: (ctx: KoaContextWithOIDC, form: string, clientName: string, userCode: string) => void
    deviceSuccess: (ctx: KoaContextWithOIDC, clientName: string | undefined) => void
  }
  /** The request id Fastify gave the request this provider call serves. */
  requestIdOf: (ctx: KoaContextWithOIDC) => string | undefined
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost'])

/** The provider's error events (one per endpoint); each carries the error with its unexposed detail. */
const ERROR_EVENTS = [
  'authorization.error', 'grant.error', 'userinfo.error', 'jwks.error', 'discovery.error', 'registration_create.error',
  'registration_read.error', 'revocation.error', 'introspection.error', 'device_authorization.error', 'code_verification.error',
  'device_resume.error', 'pushed_authorization_request.error', 'backchannel_authentication.error',
]

export function createAgentProvider (o: AgentProviderOptions): Provider {
  const { config } = o
  const resourceServers = new Map(config.resourceServerClients.map((rs) => [rs.clientId, new Set(rs.resources.map((path) => `${o.issuer}${path}`))]))
  const allowedOrigins = new Set(o.corsAllowedOrigins)

  const configuration: Configuration = {
    adapter: o.adapter,
    jwks: { keys: o.jwks as never },
    // Resource servers that introspect (RFC 7662): confidential, no grants of their own.
    clients: config.resourceServerClients.map((rs) => ({
      client_id: rs.clientId,
      client_secret: rs.clientSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    })),
    async findAccount (_ctx, sub) {
      const profile = await o.findAccount(sub)
      if (profile === undefined) return undefined
      return {
        accountId: sub,
        claims: async () => ({ sub, tid: profile.tid, oid: profile.oid, name: profile.name, preferred_username: profile.upn }),
      }
    },
    claims: { openid: ['sub'], profile: ['name', 'preferred_username', 'tid', 'oid'] },
    scopes: [...OIDC_SCOPES, ...RESOURCE_SCOPES],
    responseTypes: ['code'],
    // OAuth 2.1: PKCE for every client, S256 only (oidc-provider supports nothing else).
    pkce: { required: () => true },
    clientAuthMethods: ['none', 'client_secret_basic', 'private_key_jwt'],
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    enabledJWA: {
      clientAuthSigningAlgValues: ['EdDSA', 'Ed25519', 'ES256', 'RS256'],
      dPoPSigningAlgValues: ['ES256', 'EdDSA', 'Ed25519'],
    },
    // Refresh tokens whenever the client may use them (MCP clients rarely ask for offline_access); they never
    // end with the provider's browser session — the agent outlives it.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    // Every use rotates; a consumed token presented again revokes the grant (oidc-provider's reuse detection).
    // The default skips rotation for sender-constrained public clients.
    rotateRefreshToken: true,
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.accessTokenTtlSec,
      AuthorizationCode: 60,
      DeviceCode: config.deviceCodeTtlSec,
      IdToken: config.accessTokenTtlSec,
      Interaction: 600,
      Session: 3600,
      Grant: config.refreshTokenAbsoluteTtlSec,
      RefreshToken: (_ctx, token) => {
        const now = Math.floor(Date.now() / 1000)
        const started = typeof token.iiat === 'number' ? token.iiat : now
        return Math.max(1, Math.min(config.refreshTokenIdleTtlSec, started + config.refreshTokenAbsoluteTtlSec - now))
      },
    },
    routes: OAUTH_ROUTES,
    interactions: { url: async (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}` },
    cookies: {
      keys: o.cookieKeys,
      // Over https: `__Host-` for the session cookie (Path=/), `__Secure-` for the two path-scoped ones.
      names: o.secureCookies
        ? { session: '__Host-obo_as_session', interaction: '__Secure-obo_as_interaction', resume: '__Secure-obo_as_resume' }
        : { session: 'obo_as_session', interaction: 'obo_as_interaction', resume: 'obo_as_resume' },
      long: { httpOnly: true, sameSite: 'lax', secure: o.secureCookies, signed: true, path: '/' },
      short: { httpOnly: true, sameSite: 'lax', secure: o.secureCookies, signed: true },
    },
    clientBasedCORS: (_ctx, origin) => allowedOrigins.has(origin),
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      userinfo: { enabled: true },
      // RFC 9449: nonces from a secret every replica shares; proofs replay-checked in the adapter's store.
      dPoP: { enabled: true, nonceSecret: o.dpopNonceSecret, requireNonce: () => true, allowReplay: false },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false, allowUnregisteredRedirectUris: false },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource: async (ctx, form, _out, err) => {
          const kind = err === undefined ? undefined : ('userCode' in err || err.name === 'NoCodeError') ? 'invalid' : err.name === 'AbortedError' ? 'aborted' : 'failed'
          o.pages.userCodeInput(ctx, form, kind)
        },
        userCodeConfirmSource: async (ctx, form, client, _deviceInfo, userCode) => {
          o.pages.userCodeConfirm(ctx, form, client.clientName ?? client.clientId, userCode)
        },
        successSource: async (ctx) => { o.pages.deviceSuccess(ctx, ctx.oidc.client?.clientName) },
      },
      registration: {
        enabled: config.registrationEnabled,
        initialAccessToken: config.registrationInitialAccessToken ?? false,
        // No registration management endpoint: a registration access token would be useless.
        issueRegistrationAccessToken: false,
      },
      revocation: {
        enabled: true,
        // RFC 7009 §2.1: a client revokes only its own tokens (a resource server may not revoke for others).
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId !== client.clientId) throw new errors.UnauthorizedClient('a client may revoke only the tokens issued to it')
          return true
        },
      },
      introspection: {
        enabled: true,
        // The caller must authenticate; a client may introspect its own tokens, a resource server any token for its audience.
        allowedPolicy: async (_ctx, client, token) => {
          if (client.clientAuthMethod === 'none') throw new errors.UnauthorizedClient('introspection requires client authentication (client_secret_basic or private_key_jwt)')
          if (token.clientId === client.clientId) return true
          const audience = (token as { aud?: unknown }).aud
          const allowed = resourceServers.get(client.clientId)
          if (allowed !== undefined && typeof audience === 'string' && allowed.has(audience)) return true
          throw new errors.UnauthorizedClient('only the client a token was issued to, or a resource server of its audience, may introspect it')
        },
      },
      resourceIndicators: {
        enabled: true,
        // `resource` is required, except for an openid-only request (its token is for userinfo).
        defaultResource: async (ctx, _client, oneOf) => {
          if (oneOf !== undefined) return oneOf
          const scopes = new Set(String(ctx.oidc.params?.scope ?? '').split(' ').filter((s) => s !== ''))
          if ([...scopes].some((s) => (RESOURCE_SCOPES as string[]).includes(s)) || !scopes.has('openid')) {
            throw new errors.InvalidTarget(`resource is required: one of ${o.issuer}/v1, ${o.issuer}/mcp or ${o.issuer}/mcp/<server> (RFC 8707)`)
          }
          return undefined as unknown as string
        },
        // The granted resource when the token request names none; a request for OIDC scopes only gets a userinfo token.
        useGrantedResource: async (ctx) => {
          const scope = String(ctx.oidc.params?.scope ?? '').split(' ').filter((s) => s !== '')
          return scope.length === 0 || !scope.every((s) => (OIDC_SCOPES as readonly string[]).includes(s))
        },
        getResourceServerInfo: async (_ctx, indicator) => {
          if (!o.isKnownResource(indicator)) throw new errors.InvalidTarget(`unknown resource ${indicator.slice(0, 200)}: tokens are for ${o.issuer}/v1, ${o.issuer}/mcp or ${o.issuer}/mcp/<server>`)
          return { scope: Object.keys(AGENT_SCOPES).join(' '), audience: indicator, accessTokenTTL: config.accessTokenTtlSec, accessTokenFormat: 'opaque' }
        },
      },
      clientIdMetadataDocument: {
        enabled: true,
        ack: 'draft-02',
        cacheDuration: { min: 60, max: 86_400 },
      },
    },
    fetch: async (url, init) => await o.fetch(String(url), init as RequestInit),
    // Registered redirect URIs: https, or http to a loopback address only (RFC 8252 §7.3, §8.3), for every
    // application_type. oidc-provider itself accepts plain http for web clients.
    extraClientMetadata: {
      properties: ['software_id', 'software_version'],
      validator: (_ctx, key, _value, metadata) => {
        if (key !== 'software_id') return
        for (const uri of (metadata.redirect_uris ?? []) as string[]) {
          const parsed = URL.parse(uri)
          if (parsed?.protocol === 'http:' && !LOOPBACK_HOSTS.has(parsed.hostname)) {
            throw new errors.InvalidClientMetadata('redirect_uris: http is allowed only for loopback addresses (127.0.0.1, [::1], localhost); use https')
          }
        }
      },
    },
    // form_post cannot work here: every /oauth answer carries API_CSP (no script-src, form-action 'none'), so the
    // provider's auto-submitting page would be blocked. OAuth 2.1 §4.1.2 needs only the query mode. Refused the way
    // the provider refuses a mode it does not know (error sent to the checked redirect_uri in the default mode).
    extraParams: {
      response_mode: (ctx, value) => {
        if (typeof value === 'string' && value.split('.')[0] === 'form_post') {
          ctx.oidc.params!.response_mode = undefined
          throw new errors.UnsupportedResponseMode('response_mode form_post is not supported; use query (the default)')
        }
      },
    },
    renderError: async (ctx, out) => {
      ctx.type = 'application/json; charset=utf-8'
      ctx.body = { error: out.error, error_description: out.error_description }
    },
    discovery: { service_documentation: `${o.issuer}/docs` },
  }

  const provider = new Provider(o.issuer, configuration)
  // We rewrite Host and X-Forwarded-* from PUBLIC_URL before every call, so trusting them is safe (see routes/oauth.ts).
  provider.proxy = true
  provider.on('server_error', (ctx: KoaContextWithOIDC, err: Error) => {
    o.logger.error({ err: { message: err.message, name: err.name }, route: ctx.oidc?.route, reqId: o.requestIdOf(ctx) }, 'authorization server error')
  })
  // Koa's default prints stacks to stderr; the provider's own handler answered, and server_error above logs.
  ;(provider as unknown as { silent: boolean }).silent = true

  // The provider keeps an error's specific detail (e.g. "refresh token already used") out of its answer; our
  // reason comes from it, the description stays the provider's exposed one.
  for (const event of ERROR_EVENTS) {
    provider.on(event as 'grant.error', (ctx: KoaContextWithOIDC, err: { error_detail?: unknown }) => {
      if (typeof err.error_detail === 'string') (ctx.state as { errorDetail?: string }).errorDetail = err.error_detail
    })
  }

  // The metadata names only the response modes that work (see extraParams above).
  provider.use(async (ctx, next) => {
    await next()
    const body = ctx.body as { response_modes_supported?: unknown } | undefined
    if ((ctx as KoaContextWithOIDC).oidc?.route === 'discovery' && Array.isArray(body?.response_modes_supported)) {
      body.response_modes_supported = body.response_modes_supported.filter((mode: string) => mode.split('.')[0] !== 'form_post')
    }
  })

  // Our reason and request id on every provider error answer (JSON bodies only).
  provider.use(async (ctx, next) => {
    await next()
    if (ctx.status >= 400 && isProviderErrorBody(ctx.body)) {
      const body = ctx.body
      const route = (ctx as KoaContextWithOIDC).oidc?.route
      const detail = (ctx.state as { cimdRefusal?: string }).cimdRefusal
      ctx.body = {
        error: body.error,
        reason: reasonForProviderError(body.error, [body.error_description, (ctx.state as { errorDetail?: string }).errorDetail].join(' | '), route),
        error_description: detail === undefined ? body.error_description : `${body.error_description ?? 'client_id metadata document fetch failed'}: ${detail}`,
        request_id: o.requestIdOf(ctx as KoaContextWithOIDC),
      }
      o.logger.info({ route, status: ctx.status, error: body.error, reqId: o.requestIdOf(ctx as KoaContextWithOIDC) }, 'authorization server refused')
    }
  })
  return provider
}
