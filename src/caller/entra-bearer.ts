// Mode A: validation of Entra access tokens issued for the relay's own API (DESIGN §4).
import { createRemoteJWKSet, customFetch, decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import type { Config } from '../config/index.ts'
import { insufficientScope, relayError, RelayError, temporarilyUnavailable } from '../errors.ts'
import { LRUCache } from 'lru-cache'
import { sha256b64url } from '../crypto/hash.ts'
import type { FetchLike } from '../net/http-client.ts'
import { TokenMemo, userAssertionOf, type UserAssertion } from './user-assertion.ts'

export interface InboundTokenOptions {
  authorityHost: URL
  allowedTenants: string[]
  /** Accepted `aud`: the relay's client id and App ID URI. */
  audiences: string[]
  /** Full relay scope; the scope name (after the last `/`) must be in `scp`. */
  relayScope: string
  allowedAzp: string[] | undefined
  clockToleranceSec?: number
  fetch: FetchLike
}

export interface InboundTokenValidator {
  (token: string): Promise<UserAssertion>
  /** The user of a token validated before and not expired, found without waiting; undefined: validate it. */
  remembered: (token: string) => UserAssertion | undefined
}

export function inboundTokenOptionsFromConfig (config: Config, fetch: FetchLike): InboundTokenOptions {
  return {
    authorityHost: config.authorityHost,
    allowedTenants: config.allowedTenants,
    audiences: config.relayAudiences,
    relayScope: config.relayScope,
    allowedAzp: config.allowedAzp,
    fetch,
  }
}

/** Entra's v2 issuer for a tenant under the configured authority host. */
export function entraIssuer (authorityHost: URL, tid: string): string {
  return `${authorityHost.origin}/${tid}/v2.0`
}

/**
 * The v1 issuer (`ver: "1.0"` tokens, which an API gets while its registration leaves
 * `accessTokenAcceptedVersion` unset): `https://sts.windows.net/<tid>/` in the public cloud.
 * @see https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference#payload-claims
 * @see https://learn.microsoft.com/en-us/entra/identity-platform/authentication-national-cloud
 */
export function entraV1Issuer (authorityHost: URL, tid: string): string {
  const host = authorityHost.hostname.toLowerCase()
  const sts = host.endsWith('.cn') ? 'https://sts.chinacloudapi.cn' : 'https://sts.windows.net'
  return `${sts}/${tid}/`
}

/**
 * Builds `validateAccessToken`: RS256 only, tenant JWKS with caching and cooldown, exact issuer for an
 * allowed tenant, relay audience, delegated (`scp`) tokens carrying the relay scope, 60 s skew.
 */
export function createInboundTokenValidator (options: InboundTokenOptions): InboundTokenValidator {
  // Validated tokens are remembered by hash until they expire: signature checks dominate a request's cost.
  // Entra access tokens cannot be revoked before they expire, so nothing is missed by remembering them.
  const validated = new LRUCache<string, UserAssertion>({ max: 10_000 })
  const scopeName = options.relayScope.slice(options.relayScope.lastIndexOf('/') + 1)
  const jwksByTenant = new Map<string, ReturnType<typeof createRemoteJWKSet>>()
  const jwksFor = (tid: string) => {
    let jwks = jwksByTenant.get(tid)
    if (jwks === undefined) {
      jwks = createRemoteJWKSet(new URL(`${options.authorityHost.origin}/${tid}/discovery/v2.0/keys`), {
        cooldownDuration: 30_000,
        cacheMaxAge: 10 * 60_000,
        timeoutDuration: 5_000,
        [customFetch]: options.fetch,
      })
      jwksByTenant.set(tid, jwks)
    }
    return jwks
  }

  const clockToleranceSec = options.clockToleranceSec ?? 60
  /** The memo's user under `memoKey` (the token's SHA-256) while its token lives, else undefined (and forgotten). */
  const rememberedBy = (memoKey: string): UserAssertion | undefined => {
    const memo = validated.get(memoKey)
    if (memo === undefined) return undefined
    if ((memo.exp + clockToleranceSec) * 1000 > Date.now()) return memo
    validated.delete(memoKey)
    return undefined
  }
  const validateAccessToken = async (token: string): Promise<UserAssertion> => {
    const memoKey = sha256b64url(token)
    const memo = rememberedBy(memoKey)
    if (memo !== undefined) return memo
    let unverified: JWTPayload
    try {
      unverified = decodeJwt(token)
    } catch {
      throw relayError('token_malformed', 'The bearer token is not a JWT.')
    }
    // The tenant selects the JWKS and issuer; it is only trusted after the signature and `iss` check below.
    const tid = typeof unverified.tid === 'string' ? unverified.tid : undefined
    if (tid === undefined || !options.allowedTenants.includes(tid)) {
      throw relayError('tenant_not_allowed', 'The token was not issued by an allowed tenant.')
    }
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, jwksFor(tid), {
        algorithms: ['RS256'],
        // v2 and v1 tokens alike: which one an API gets depends on its registration.
        issuer: [entraIssuer(options.authorityHost, tid), entraV1Issuer(options.authorityHost, tid)],
        audience: options.audiences,
        clockTolerance: clockToleranceSec,
        requiredClaims: ['exp', 'iat', 'oid', 'tid'],
      }))
    } catch (err) {
      throw mapJoseError(err)
    }
    if (payload.idtyp === 'app' || (payload.scp === undefined && payload.roles !== undefined)) {
      throw relayError('app_only_token', 'App-only tokens are not accepted: the relay acts for a signed-in user.')
    }
    if (typeof payload.scp !== 'string') {
      throw relayError('app_only_token', 'The token is not a delegated access token (no scp claim).')
    }
    if (!payload.scp.split(' ').includes(scopeName)) {
      throw insufficientScope(`The token lacks the relay scope "${scopeName}".`, options.relayScope)
    }
    const azp = typeof payload.azp === 'string' ? payload.azp : payload.appid
    if (options.allowedAzp !== undefined && (typeof azp !== 'string' || !options.allowedAzp.includes(azp))) {
      throw relayError('client_not_allowed', 'The client application that obtained this token is not allowed to use the relay.')
    }
    const text = (value: unknown): string | undefined => typeof value === 'string' ? value : undefined
    const user = {
      tid,
      oid: String(payload.oid),
      upn: text(payload.preferred_username) ?? text(payload.upn) ?? text(payload.unique_name),
      name: text(payload.name),
    }
    const assertion = userAssertionOf(user, 'entra_bearer', new TokenMemo(token, payload.exp as number))
    validated.set(memoKey, assertion)
    return assertion
  }
  return Object.assign(validateAccessToken, { remembered: (token: string) => rememberedBy(sha256b64url(token)) })
}

function mapJoseError (err: unknown): RelayError {
  if (err instanceof joseErrors.JWTExpired) return relayError('token_expired', 'The token has expired.')
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const what = err.claim === 'nbf' ? 'is not valid yet' : `has an unacceptable "${err.claim}" claim`
    return relayError('token_invalid', `The token ${what}.`)
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) return relayError('token_invalid', 'The token is signed with an unknown key.')
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return relayError('token_invalid', 'The token is not signed with RS256.')
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return relayError('token_invalid', 'The token signature is invalid.')
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || err instanceof TypeError) {
    return temporarilyUnavailable('entra_unavailable', 'Entra signing keys cannot be fetched right now.', 5, { cause: err })
  }
  if (err instanceof joseErrors.JOSEError) return relayError('token_invalid', 'The token is malformed or cannot be verified.')
  return temporarilyUnavailable('entra_unavailable', 'Entra signing keys cannot be fetched right now.', 5, { cause: err })
}
