// Minting Entra tokens (delegated and app-only access tokens in the API's accepted version, ID tokens)
// and the token endpoint's success response.
// @see https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto'
import { SignJWT, base64url } from 'jose'
import { NO_STEP_UP, type StepUp } from './claims.ts'
import { issuerOf, nowSecOf, v1IssuerOf, type EmulatorContext } from './context.ts'
import { GRAPH_APP_ID } from './defaults.ts'
import type { SigningKey } from './keys.ts'
import { identifierUrisOf, type Tenant } from './registry.ts'
import type { AppRegistration, RedirectUri, TestUser } from './types.ts'

/** azpacr: 0 = public client, 1 = client secret, 2 = certificate / client assertion. */
export type ClientAuthClass = '0' | '1' | '2'

export interface UserIssuance {
  kind: 'user'
  tenant: Tenant
  user: TestUser
  client: AppRegistration
  azpacr: ClientAuthClass
  resource: AppRegistration
  /** How the request named the resource (App ID URI or client id; '' for Graph's bare names): v1's `aud`. */
  resourceIdentifier: string
  scopeNames: string[]
  /** The response's `scope` member. */
  scope: string
  oidc: Set<string>
  sid: string
  nonce: string | undefined
  clientInfo: boolean
  /** When the user authenticated; carried over to refresh tokens. */
  authTimeSec: number
  /** What the sign-in behind this issuance satisfied (step-up): tokens carry its `acrs`. */
  stepUp: StepUp
  /** Client capabilities declared in this request's `claims` (`cp1`). */
  clientCapabilities: string[]
  /** A refresh-token chain begun at a SPA redirect URI keeps its fixed end. */
  refreshChain: { redirectType: RedirectUri['type'], spaExpiresAtMs?: number, chainIssuedAtMs?: number }
}

export interface AppIssuance {
  kind: 'app'
  tenant: Tenant
  client: AppRegistration
  azpacr: ClientAuthClass
  resource: AppRegistration
  resourceIdentifier: string
}

export type Issuance = UserIssuance | AppIssuance

/** Entra back-dates iat and nbf by five minutes to absorb clock skew. */
const BACKDATE_SEC = 300

/** ID tokens are valid for one hour. @see https://learn.microsoft.com/en-us/entra/identity-platform/id-tokens */
const ID_TOKEN_LIFETIME_SEC = 3600

/**
 * Access tokens live a random 60–90 minutes (75 on average) unless a fixed lifetime was configured.
 * @see https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#token-lifetime
 */
export function accessTokenLifetimeSec (context: EmulatorContext): number {
  return context.accessTokenLifetimeSec ?? randomInt(3600, 5401)
}

/** Opaque-looking values in Entra's formats. */
const opaque = (bytes: number): string => randomBytes(bytes).toString('base64url')

/** `sub` is pairwise: stable for one user and one application, different across applications. */
export function pairwiseSubject (oid: string, appId: string): string {
  return createHash('sha256').update(`${oid.toLowerCase()}|${appId.toLowerCase()}`).digest('base64url')
}

/** The object id of an app's service principal in a tenant (derived, stable). */
export function servicePrincipalOid (clientId: string, tenantId = ''): string {
  const hex = createHash('sha256').update(`sp|${clientId.toLowerCase()}${tenantId === '' ? '' : `|${tenantId.toLowerCase()}`}`).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

export function clientInfoOf (tenantId: string, oid: string): string {
  return base64url.encode(JSON.stringify({ uid: oid, utid: tenantId }))
}

/** Signs `claims`; the header has `kid`, plus `x5t` where asked (Entra puts it in v1 tokens only). */
export async function signWithKey (key: SigningKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}, alg = 'RS256',
  withX5t = false): Promise<string> {
  const protectedHeader = { typ: 'JWT', alg, ...(withX5t ? { x5t: key.x5t ?? key.kid } : {}), kid: key.kid, ...header }
  if (alg === 'none') {
    const encode = (value: unknown) => base64url.encode(JSON.stringify(value))
    return `${encode(protectedHeader)}.${encode(claims)}.`
  }
  return await new SignJWT(claims).setProtectedHeader({ ...protectedHeader, alg }).sign(key.privateKey)
}

function timeClaims (context: EmulatorContext, lifetimeSec: number): { iat: number, nbf: number, exp: number } {
  const now = nowSecOf(context)
  return { iat: now - BACKDATE_SEC, nbf: now - BACKDATE_SEC, exp: now + lifetimeSec }
}

function delegatedScp (issuance: UserIssuance): string {
  if (issuance.resource.clientId !== GRAPH_APP_ID) return issuance.scopeNames.join(' ')
  // Graph tokens carry the OIDC permissions too.
  const oidc = ['openid', 'profile', 'email'].filter(scope => issuance.oidc.has(scope))
  return [...new Set([...oidc, ...issuance.scopeNames])].join(' ')
}

/** v1 unless the API set `accessTokenAcceptedVersion: 2` (Entra's default for an API is v1). */
export function tokenVersionOf (resource: AppRegistration): 1 | 2 {
  return resource.accessTokenAcceptedVersion === 2 ? 2 : 1
}

const wantsOptionalClaim = (resource: AppRegistration, claim: string): boolean => (resource.optionalClaims?.accessToken ?? []).includes(claim)

/** v1 `aud`: the identifier the client used (App ID URI or client id); v2 `aud`: always the client id. */
function v1Audience (resource: AppRegistration, identifier: string): string {
  if (identifier !== '') return identifier
  return resource.clientId === GRAPH_APP_ID ? (resource.appIdUri ?? resource.clientId) : resource.clientId
}

/** Claims of either version that depend on the request: step-up, client capabilities. */
function requestClaims (issuance: UserIssuance): Record<string, unknown> {
  const capable = issuance.clientCapabilities.includes('cp1') && wantsOptionalClaim(issuance.resource, 'xms_cc')
  return {
    ...(issuance.stepUp.acrs.length === 0 ? {} : { acrs: issuance.stepUp.acrs }),
    ...(capable ? { xms_cc: ['cp1'] } : {}),
  }
}

function nameParts (name: string): { given_name?: string, family_name?: string } {
  const [given, ...rest] = name.split(' ')
  return rest.length === 0 || given === undefined ? {} : { given_name: given, family_name: rest.join(' ') }
}

export async function mintUserAccessToken (context: EmulatorContext, issuance: UserIssuance, lifetimeSec = accessTokenLifetimeSec(context)): Promise<string> {
  const { user, client, resource, tenant } = issuance
  const uti = opaque(16)
  if (issuance.stepUp.acrs.length > 0 || issuance.stepUp.capolids.length > 0) context.store.stepUps.set(uti, issuance.stepUp)
  const key = context.keys.current
  if (tokenVersionOf(resource) === 1) {
    return await signWithKey(key, {
      aud: v1Audience(resource, issuance.resourceIdentifier),
      iss: v1IssuerOf(tenant.id),
      ...timeClaims(context, lifetimeSec),
      ...requestClaims(issuance),
      acr: '1',
      aio: opaque(48),
      amr: issuance.stepUp === NO_STEP_UP || (issuance.stepUp.acrs.length === 0 && issuance.stepUp.capolids.length === 0) ? ['pwd'] : ['pwd', 'mfa'],
      appid: client.clientId,
      appidacr: issuance.azpacr,
      ...nameParts(user.name),
      ipaddr: '127.0.0.1',
      name: user.name,
      oid: user.oid,
      rh: `1.A${opaque(36)}.`,
      scp: delegatedScp(issuance),
      sid: issuance.sid,
      sub: pairwiseSubject(user.oid, resource.clientId),
      tid: tenant.id,
      unique_name: user.username,
      upn: user.username,
      uti,
      ver: '1.0',
    }, {}, 'RS256', true)
  }
  return await signWithKey(key, {
    aud: resource.clientId,
    iss: issuerOf(context, tenant.id),
    ...timeClaims(context, lifetimeSec),
    ...requestClaims(issuance),
    aio: opaque(48),
    azp: client.clientId,
    azpacr: issuance.azpacr,
    name: user.name,
    oid: user.oid,
    preferred_username: user.username,
    rh: `1.A${opaque(36)}.`,
    scp: delegatedScp(issuance),
    sid: issuance.sid,
    sub: pairwiseSubject(user.oid, resource.clientId),
    tid: tenant.id,
    uti,
    ver: '2.0',
  })
}

/** The app roles of `resource` assigned to `client` (admin-granted application permissions). */
export function assignedRoles (client: AppRegistration, resource: AppRegistration): string[] {
  const offered = resource.appRoles ?? []
  const ids = [resource.clientId, ...identifierUrisOf(resource)].map((id) => id.toLowerCase())
  const assigned = (client.appRoleAssignments ?? []).filter(assignment => ids.includes(assignment.resource.toLowerCase())).flatMap(assignment => assignment.roles)
  return offered.filter(role => assigned.includes(role))
}

export async function mintAppAccessToken (context: EmulatorContext, issuance: AppIssuance, lifetimeSec = accessTokenLifetimeSec(context)): Promise<string> {
  const { client, resource, tenant } = issuance
  const spOid = servicePrincipalOid(client.clientId, tenant.home ? '' : tenant.id)
  const roles = assignedRoles(client, resource)
  const common = {
    ...timeClaims(context, lifetimeSec),
    aio: opaque(48),
    // idtyp is an optional claim the API asks for; Entra then sets it in app-only tokens.
    // https://learn.microsoft.com/en-us/entra/identity-platform/optional-claims-reference
    ...(wantsOptionalClaim(resource, 'idtyp') ? { idtyp: 'app' } : {}),
    oid: spOid,
    rh: `1.A${opaque(36)}.`,
    // Entra omits `roles` entirely when the client holds no app role of the resource.
    ...(roles.length === 0 ? {} : { roles }),
    sub: spOid,
    tid: tenant.id,
    uti: opaque(16),
  }
  if (tokenVersionOf(resource) === 1) {
    return await signWithKey(context.keys.current, {
      aud: v1Audience(resource, issuance.resourceIdentifier),
      iss: v1IssuerOf(tenant.id),
      idp: v1IssuerOf(tenant.id),
      appid: client.clientId,
      appidacr: issuance.azpacr,
      ...common,
      ver: '1.0',
    }, {}, 'RS256', true)
  }
  return await signWithKey(context.keys.current, {
    aud: resource.clientId,
    iss: issuerOf(context, tenant.id),
    azp: client.clientId,
    azpacr: issuance.azpacr,
    ...common,
    ver: '2.0',
  })
}

export async function mintIdToken (context: EmulatorContext, issuance: UserIssuance): Promise<string> {
  const { user, client, tenant } = issuance
  return await signWithKey(context.keys.current, {
    aud: client.clientId,
    iss: issuerOf(context, tenant.id),
    ...timeClaims(context, ID_TOKEN_LIFETIME_SEC),
    aio: opaque(48),
    ...(issuance.oidc.has('email') ? { email: user.username } : {}),
    name: user.name,
    ...(issuance.nonce === undefined ? {} : { nonce: issuance.nonce }),
    oid: user.oid,
    preferred_username: user.username,
    rh: `1.A${opaque(36)}.`,
    sid: issuance.sid,
    sub: pairwiseSubject(user.oid, client.clientId),
    tid: tenant.id,
    uti: opaque(16),
    ver: '2.0',
  })
}

/** The JSON body of a successful token response (RFC 6749 §5.1 plus Entra's members). */
export async function tokenResponse (context: EmulatorContext, issuance: Issuance): Promise<Record<string, unknown>> {
  const lifetime = accessTokenLifetimeSec(context)
  if (issuance.kind === 'app') {
    return { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: await mintAppAccessToken(context, issuance, lifetime) }
  }
  const body: Record<string, unknown> = {
    token_type: 'Bearer',
    scope: issuance.scope,
    expires_in: lifetime,
    ext_expires_in: lifetime,
    access_token: await mintUserAccessToken(context, issuance, lifetime),
  }
  if (issuance.oidc.has('offline_access')) {
    const chain = issuance.refreshChain
    const now = context.clock.now()
    // SPA refresh tokens have a fixed 24-hour lifetime from the sign-in.
    // https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens#token-lifetime
    const spaExpiresAtMs = chain.spaExpiresAtMs ?? (chain.redirectType === 'spa' ? now + context.spaRefreshTokenLifetimeSec * 1000 : undefined)
    body.refresh_token = context.store.issueRefreshToken({
      clientId: issuance.client.clientId,
      tenantId: issuance.tenant.id,
      userOid: issuance.user.oid,
      sid: issuance.sid,
      authTimeSec: issuance.authTimeSec,
      stepUp: issuance.stepUp,
      spaExpiresAtMs,
      ...(chain.chainIssuedAtMs === undefined ? {} : { chainIssuedAtMs: chain.chainIssuedAtMs }),
    }, context.refreshTokenLifetimeSec)
  }
  if (issuance.oidc.has('openid')) body.id_token = await mintIdToken(context, issuance)
  if (issuance.clientInfo) body.client_info = clientInfoOf(issuance.tenant.id, issuance.user.oid)
  return body
}

export function newSessionId (): string {
  return randomUUID()
}
