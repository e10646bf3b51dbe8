import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'

/** What a sample MCP server accepts: its tenant's v2 issuer (or v1 issuer), its own audience, one delegated scope. */
export interface AccessTokenPolicy {
  /** The tenant's v2 issuer; v1 tokens (`ver` 1.0) must come from `https://sts.windows.net/<tenantId>/` instead. */
  issuer: string
  tenantId: string
  /** The app's client id GUID and its App ID URI: v2 tokens carry the GUID in `aud`, v1 tokens what the client asked for. */
  audiences: string[]
  requiredScope: string
  clockToleranceSec: number
}

/** The claims of a validated delegated (user) token that the tools need. */
export interface DelegatedClaims {
  tid: string
  oid: string
  scp: string[]
  aud: string
  azp?: string
  upn?: string
  name?: string
  /** Entra authentication-context class references satisfied by this token (`acrs`). */
  acrs: string[]
  /** Client capabilities the client declared to Entra (`xms_cc`, e.g. `cp1`), when the token carries them. */
  xms_cc?: string[]
  exp: number
}

/** A token the server refuses; `status`/`error` follow RFC 6750 §3.1. */
export class TokenRejectedError extends Error {
  readonly status: 401 | 403
  readonly error: 'invalid_token' | 'insufficient_scope'

  constructor (status: 401 | 403, error: 'invalid_token' | 'insufficient_scope', description: string) {
    super(description)
    this.name = 'TokenRejectedError'
    this.status = status
    this.error = error
  }
}

/** The tenant's signing keys, fetched through the injected `fetch` (which trusts the dev CA). */
export function createJwksKeySet (jwksUri: string, fetch: typeof globalThis.fetch): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(jwksUri), { [customFetch]: fetch, timeoutDuration: 5_000 })
}

/**
 * The bearer token of an `Authorization` header, or undefined when there is none.
 * @see RFC 6750 §2.1
 */
export function readBearerToken (authorization: string | undefined): string | undefined {
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization ?? '')
  return match?.[1]
}

/**
 * The v1 issuer Entra puts in v1 access tokens (an API left at accessTokenAcceptedVersion null/1 gets those).
 * @see https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-issuer
 */
export function v1Issuer (tenantId: string): string {
  return `https://sts.windows.net/${tenantId}/`
}

/**
 * Validates an Entra delegated access token (v2, or v1 as Entra sends APIs that accept v1) for this
 * resource: RS256 signature by a key of the tenant, that version's exact `iss`, `aud`, lifetime, and
 * `scp` containing the required scope.
 * Throws TokenRejectedError; any other error (JWKS unreachable) is the server's problem, not the token's.
 */
export async function validateAccessToken (token: string, keySet: JWTVerifyGetKey, policy: AccessTokenPolicy): Promise<DelegatedClaims> {
  let payload: JWTPayload
  try {
    ({ payload } = await jwtVerify(token, keySet, {
      algorithms: ['RS256'],
      issuer: [policy.issuer, v1Issuer(policy.tenantId)],
      audience: policy.audiences,
      clockTolerance: policy.clockToleranceSec,
      requiredClaims: ['exp'],
    }))
  } catch (err) {
    const description = describeJoseError(err)
    if (description === undefined) throw err
    throw new TokenRejectedError(401, 'invalid_token', description)
  }

  const { tid, oid, scp, aud, name, acrs, idtyp, exp, ver, iss, xms_cc: xmsCc } = payload
  // Each version has its own issuer (and names the client and the user differently).
  const v1 = ver === '1.0'
  if ((v1 ? v1Issuer(policy.tenantId) : policy.issuer) !== iss || (ver !== '1.0' && ver !== '2.0')) {
    throw new TokenRejectedError(401, 'invalid_token', 'invalid iss claim')
  }
  const azp = v1 ? payload.appid : payload.azp
  const upn = v1 ? payload.upn : payload.preferred_username
  // App-only tokens carry `roles` and no `scp`; this resource only serves users.
  if (typeof scp !== 'string' || scp.trim() === '' || idtyp === 'app') {
    throw new TokenRejectedError(401, 'invalid_token', 'a delegated (user) token is required')
  }
  if (typeof tid !== 'string' || typeof oid !== 'string' || typeof aud !== 'string' || typeof exp !== 'number') {
    throw new TokenRejectedError(401, 'invalid_token', 'token lacks tid, oid or aud')
  }
  if (tid !== policy.tenantId) throw new TokenRejectedError(401, 'invalid_token', 'token is for another tenant')
  const scopes = scp.split(' ').filter(Boolean)
  if (!scopes.includes(policy.requiredScope)) {
    throw new TokenRejectedError(403, 'insufficient_scope', `scope ${policy.requiredScope} is required`)
  }
  return {
    tid,
    oid,
    scp: scopes,
    aud,
    ...(typeof azp === 'string' && { azp }),
    ...(typeof upn === 'string' && { upn }),
    ...(typeof name === 'string' && { name }),
    acrs: Array.isArray(acrs) ? acrs.filter((value): value is string => typeof value === 'string') : [],
    ...(Array.isArray(xmsCc) && { xms_cc: xmsCc.filter((value): value is string => typeof value === 'string') }),
    exp,
  }
}

/** A short, token-free reason for a jose failure; undefined when the error is not about the token. */
function describeJoseError (err: unknown): string | undefined {
  if (err instanceof errors.JWTExpired) return 'token expired'
  if (err instanceof errors.JWTClaimValidationFailed) return `invalid ${err.claim} claim`
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed'
  if (err instanceof errors.JWKSNoMatchingKey) return 'no signing key matches the token'
  if (err instanceof errors.JOSEAlgNotAllowed) return 'signing algorithm not allowed'
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid || err instanceof errors.JOSENotSupported) return 'malformed token'
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'ambiguous signing key'
  return undefined
}

/**
 * A `WWW-Authenticate` value for a Bearer challenge. Values are ours (never client input), so quoting suffices.
 * @see RFC 6750 §3, RFC 9728 §5.1
 */
export function bearerChallenge (params: Record<string, string>): string {
  const pairs = Object.entries(params).map(([key, value]) => `${key}="${value.replaceAll(/["\\]/g, '')}"`)
  return pairs.length === 0 ? 'Bearer' : `Bearer ${pairs.join(', ')}`
}
