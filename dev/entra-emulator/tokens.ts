// Minting Entra v2 tokens (access, app-only, id) and the token endpoint's success response.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { SignJWT, base64url } from 'jose'
import { issuerOf, type EmulatorContext } from './context.ts'
import { GRAPH_APP_ID } from './defaults.ts'
import type { SigningKey } from './keys.ts'
import type { AppRegistration, TestUser } from './types.ts'

/** azpacr: 0 = public client, 1 = client secret, 2 = certificate / client assertion. */
export type ClientAuthClass = '0' | '1' | '2'

export interface UserIssuance {
  kind: 'user'
  user: TestUser
  client: AppRegistration
  azpacr: ClientAuthClass
  resource: AppRegistration
  scopeNames: string[]
  /** The response's `scope` member. */
  scope: string
  oidc: Set<string>
  sid: string
  nonce: string | undefined
  clientInfo: boolean
  /** When the user authenticated; carried over to refresh tokens. */
  authTimeSec: number
}

export interface AppIssuance {
  kind: 'app'
  client: AppRegistration
  azpacr: ClientAuthClass
  resource: AppRegistration
}

export type Issuance = UserIssuance | AppIssuance

/** Entra back-dates iat and nbf by five minutes to absorb clock skew. */
const BACKDATE_SEC = 300

const nowSec = (): number => Math.floor(Date.now() / 1000)

/** Opaque-looking values in Entra's formats. */
const opaque = (bytes: number): string => randomBytes(bytes).toString('base64url')

/** `sub` is pairwise: stable for one user and one application, different across applications. */
export function pairwiseSubject (oid: string, appId: string): string {
  return createHash('sha256').update(`${oid.toLowerCase()}|${appId.toLowerCase()}`).digest('base64url')
}

/** The object id of an app's service principal in this tenant (derived, stable). */
export function servicePrincipalOid (clientId: string): string {
  const hex = createHash('sha256').update(`sp|${clientId.toLowerCase()}`).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

export function clientInfoOf (context: EmulatorContext, oid: string): string {
  return base64url.encode(JSON.stringify({ uid: oid, utid: context.tenantId }))
}

export async function signWithKey (key: SigningKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}, alg = 'RS256'): Promise<string> {
  const protectedHeader = { typ: 'JWT', alg, kid: key.kid, ...(key.x5t === undefined ? {} : { x5t: key.x5t }), ...header }
  if (alg === 'none') {
    const encode = (value: unknown) => base64url.encode(JSON.stringify(value))
    return `${encode(protectedHeader)}.${encode(claims)}.`
  }
  return await new SignJWT(claims).setProtectedHeader({ ...protectedHeader, alg }).sign(key.privateKey)
}

function timeClaims (lifetimeSec: number): { iat: number, nbf: number, exp: number } {
  const now = nowSec()
  return { iat: now - BACKDATE_SEC, nbf: now - BACKDATE_SEC, exp: now + lifetimeSec }
}

function delegatedScp (issuance: UserIssuance): string {
  if (issuance.resource.clientId !== GRAPH_APP_ID) return issuance.scopeNames.join(' ')
  // Graph tokens carry the OIDC permissions too.
  const oidc = ['openid', 'profile', 'email'].filter(scope => issuance.oidc.has(scope))
  return [...new Set([...oidc, ...issuance.scopeNames])].join(' ')
}

export async function mintUserAccessToken (context: EmulatorContext, issuance: UserIssuance): Promise<string> {
  const { user, client, resource } = issuance
  return await signWithKey(context.keys.current, {
    aud: resource.clientId,
    iss: issuerOf(context),
    ...timeClaims(context.accessTokenLifetimeSec),
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
    tid: context.tenantId,
    uti: opaque(16),
    ver: '2.0',
  })
}

export async function mintAppAccessToken (context: EmulatorContext, issuance: AppIssuance): Promise<string> {
  const spOid = servicePrincipalOid(issuance.client.clientId)
  const roles = issuance.resource.appRoles ?? []
  return await signWithKey(context.keys.current, {
    aud: issuance.resource.clientId,
    iss: issuerOf(context),
    ...timeClaims(context.accessTokenLifetimeSec),
    aio: opaque(48),
    azp: issuance.client.clientId,
    azpacr: issuance.azpacr,
    idtyp: 'app',
    oid: spOid,
    rh: `1.A${opaque(36)}.`,
    // Entra omits `roles` entirely when the client holds no app role of the resource.
    ...(roles.length === 0 ? {} : { roles }),
    sub: spOid,
    tid: context.tenantId,
    uti: opaque(16),
    ver: '2.0',
  })
}

export async function mintIdToken (context: EmulatorContext, issuance: UserIssuance): Promise<string> {
  const { user, client } = issuance
  return await signWithKey(context.keys.current, {
    aud: client.clientId,
    iss: issuerOf(context),
    ...timeClaims(context.accessTokenLifetimeSec),
    aio: opaque(48),
    ...(issuance.oidc.has('email') ? { email: user.username } : {}),
    name: user.name,
    ...(issuance.nonce === undefined ? {} : { nonce: issuance.nonce }),
    oid: user.oid,
    preferred_username: user.username,
    rh: `1.A${opaque(36)}.`,
    sid: issuance.sid,
    sub: pairwiseSubject(user.oid, client.clientId),
    tid: context.tenantId,
    uti: opaque(16),
    ver: '2.0',
  })
}

/** The JSON body of a successful token response (RFC 6749 §5.1 plus Entra's members). */
export async function tokenResponse (context: EmulatorContext, issuance: Issuance): Promise<Record<string, unknown>> {
  const lifetime = context.accessTokenLifetimeSec
  if (issuance.kind === 'app') {
    return { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: await mintAppAccessToken(context, issuance) }
  }
  const body: Record<string, unknown> = {
    token_type: 'Bearer',
    scope: issuance.scope,
    expires_in: lifetime,
    ext_expires_in: lifetime,
    access_token: await mintUserAccessToken(context, issuance),
  }
  if (issuance.oidc.has('offline_access')) {
    body.refresh_token = context.store.issueRefreshToken({
      clientId: issuance.client.clientId,
      userOid: issuance.user.oid,
      sid: issuance.sid,
      authTimeSec: issuance.authTimeSec,
    }, context.refreshTokenLifetimeSec)
  }
  if (issuance.oidc.has('openid')) body.id_token = await mintIdToken(context, issuance)
  if (issuance.clientInfo) body.client_info = clientInfoOf(context, issuance.user.oid)
  return body
}

export function newSessionId (): string {
  return randomUUID()
}
