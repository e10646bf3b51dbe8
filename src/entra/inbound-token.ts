// Mode A: validation of Entra access tokens issued for the relay's own API (DESIGN §4).
import { createRemoteJWKSet, customFetch, decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import type { Config } from '../config.ts'
import { errors, RelayError } from '../errors.ts'
import type { FetchLike } from '../net/http-client.ts'
import type { UserAssertion } from './user-assertion.ts'

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

export type InboundTokenValidator = (token: string) => Promise<UserAssertion>

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
 * Builds `validateAccessToken`: RS256 only, tenant JWKS with caching and cooldown, exact issuer for an
 * allowed tenant, relay audience, delegated (`scp`) tokens carrying the relay scope, 60 s skew.
 */
export function createInboundTokenValidator (options: InboundTokenOptions): InboundTokenValidator {
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

  return async function validateAccessToken (token: string): Promise<UserAssertion> {
    let unverified: JWTPayload
    try {
      unverified = decodeJwt(token)
    } catch {
      throw errors.invalidToken('The bearer token is not a JWT.')
    }
    // The tenant selects the JWKS and issuer; it is only trusted after the signature and `iss` check below.
    const tid = typeof unverified.tid === 'string' ? unverified.tid : undefined
    if (tid === undefined || !options.allowedTenants.includes(tid)) {
      throw errors.invalidToken('The token was not issued by an allowed tenant.')
    }
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, jwksFor(tid), {
        algorithms: ['RS256'],
        issuer: entraIssuer(options.authorityHost, tid),
        audience: options.audiences,
        clockTolerance: options.clockToleranceSec ?? 60,
        requiredClaims: ['exp', 'iat', 'oid', 'tid'],
      }))
    } catch (err) {
      throw mapJoseError(err)
    }
    if (payload.idtyp === 'app' || (payload.scp === undefined && payload.roles !== undefined)) {
      throw errors.invalidToken('App-only tokens are not accepted: the relay acts for a signed-in user.')
    }
    if (typeof payload.scp !== 'string') {
      throw errors.invalidToken('The token is not a delegated access token (no scp claim).')
    }
    if (!payload.scp.split(' ').includes(scopeName)) {
      throw errors.insufficientScope(`The token lacks the relay scope "${scopeName}".`, options.relayScope)
    }
    const azp = typeof payload.azp === 'string' ? payload.azp : payload.appid
    if (options.allowedAzp !== undefined && (typeof azp !== 'string' || !options.allowedAzp.includes(azp))) {
      throw errors.accessDenied('The client application that obtained this token is not allowed to use the relay.')
    }
    return {
      tid,
      oid: String(payload.oid),
      upn: typeof payload.preferred_username === 'string' ? payload.preferred_username : (typeof payload.upn === 'string' ? payload.upn : undefined),
      name: typeof payload.name === 'string' ? payload.name : undefined,
      token,
      exp: payload.exp as number,
      mode: 'entra_bearer',
    }
  }
}

function mapJoseError (err: unknown): RelayError {
  if (err instanceof joseErrors.JWTExpired) return errors.invalidToken('The token has expired.')
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const what = err.claim === 'nbf' ? 'is not valid yet' : `has an unacceptable "${err.claim}" claim`
    return errors.invalidToken(`The token ${what}.`)
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) return errors.invalidToken('The token is signed with an unknown key.')
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return errors.invalidToken('The token is not signed with RS256.')
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return errors.invalidToken('The token signature is invalid.')
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || err instanceof TypeError) {
    return errors.temporarilyUnavailable('Entra signing keys cannot be fetched right now.', 5, { cause: err })
  }
  if (err instanceof joseErrors.JOSEError) return errors.invalidToken('The token is malformed or cannot be verified.')
  return errors.temporarilyUnavailable('Entra signing keys cannot be fetched right now.', 5, { cause: err })
}
