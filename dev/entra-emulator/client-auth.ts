// Client authentication at the token endpoint: public clients (no credential), client secrets
// (body or HTTP Basic) and private_key_jwt client assertions signed by a registered certificate.
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto'
import { compactVerify, decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose'
import type { EmulatorContext } from './context.ts'
import { aadsts, entraTimestamp } from './errors.ts'
import type { Tenant } from './registry.ts'
import type { ClientAuthClass } from './tokens.ts'
import type { AppRegistration, ClientSecret } from './types.ts'

/**
 * Entra tolerates clock skew on `nbf` (MSAL rounds its clock, so its nbf can be up to a second ahead);
 * expiry is checked without tolerance here, which is stricter than Entra's five minutes.
 */
export const NBF_SKEW_SEC = 300

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

export interface AuthenticatedClient {
  app: AppRegistration
  azpacr: ClientAuthClass
}

export interface ClientAuthRequest {
  body: Record<string, string | undefined>
  authorization: string | undefined
  /** The tenant segment of the request path, for the accepted client assertion audiences. */
  tenantSegment: string
  /** The tenant the request is for: the client must be provisioned there. */
  tenant: Tenant
}

/** @see RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
function parseBasic (authorization: string | undefined): { id: string, secret: string } | undefined {
  if (authorization === undefined || !/^basic /i.test(authorization)) return undefined
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) throw aadsts.malformedRequest()
  const formDecode = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '))
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) }
  } catch {
    throw aadsts.malformedRequest()
  }
}

function sameSecret (given: string, registered: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(given), digest(registered))
}

const toMs = (value: string | number | undefined): number | undefined => value === undefined ? undefined : typeof value === 'number' ? value : Date.parse(value)

function secretsOf (app: AppRegistration): ClientSecret[] {
  return (app.secrets ?? []).map(secret => typeof secret === 'string' ? { value: secret } : secret)
}

export async function authenticateClient (context: EmulatorContext, request: ClientAuthRequest): Promise<AuthenticatedClient> {
  const { body } = request
  const basic = parseBasic(request.authorization)
  const clientId = body.client_id ?? basic?.id
  if (clientId === undefined || clientId === '') throw aadsts.missingParameter('client_id')
  if (basic !== undefined && basic.id !== clientId) throw aadsts.malformedRequest()
  const app = context.registry.servicePrincipal(request.tenant, clientId)
  if (app === undefined) throw aadsts.appNotFound(clientId, request.tenant.domain)
  const secret = body.client_secret ?? basic?.secret
  const assertion = body.client_assertion
  if (app.isPublicClient === true) {
    if (secret !== undefined || assertion !== undefined) throw aadsts.publicClientWithCredentials()
    return { app, azpacr: '0' }
  }
  if (assertion !== undefined) {
    await verifyClientAssertion(context, app, assertion, body.client_assertion_type, request)
    return { app, azpacr: '2' }
  }
  if (secret === undefined) throw aadsts.missingClientCredentials()
  // Compare against every secret so the time taken does not reveal which one matched.
  const matches = secretsOf(app).filter(registered => sameSecret(secret, registered.value))
  if (matches.length === 0) throw aadsts.invalidClientSecret(app.clientId)
  const now = context.clock.now()
  const valid = matches.some(({ expiresAt, startsAt }) => (toMs(expiresAt) ?? Infinity) > now && (toMs(startsAt) ?? -Infinity) <= now)
  // https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes (AADSTS7000222)
  if (!valid) throw aadsts.clientSecretExpired(app.clientId)
  return { app, azpacr: '1' }
}

function thumbprintHex (value: unknown): string {
  return typeof value === 'string' ? Buffer.from(value, 'base64url').toString('hex').toUpperCase() : ''
}

function findCertificate (app: AppRegistration, header: Record<string, unknown>): X509Certificate | undefined {
  const sha256 = header['x5t#S256']
  const sha1 = header.x5t
  for (const pem of app.certificates ?? []) {
    const cert = new X509Certificate(pem)
    const der = cert.raw
    if (typeof sha256 === 'string' && createHash('sha256').update(der).digest('base64url') === sha256) return cert
    if (typeof sha1 === 'string' && createHash('sha1').update(der).digest('base64url') === sha1) return cert
  }
  return undefined
}

/** @see RFC 7523 §3 and Entra's certificate credentials: iss = sub = client id, aud = token endpoint. */
async function verifyClientAssertion (context: EmulatorContext, app: AppRegistration, assertion: string,
  assertionType: string | undefined, request: ClientAuthRequest): Promise<void> {
  if (assertionType === undefined) throw aadsts.missingParameter('client_assertion_type')
  if (assertionType !== CLIENT_ASSERTION_TYPE) throw aadsts.malformedRequest()
  const { header, claims } = decodeUnverifiedJwt(assertion)
  const thumbprint = thumbprintHex(header['x5t#S256'] ?? header.x5t)
  const cert = findCertificate(app, header)
  if (cert === undefined) throw aadsts.clientAssertionKeyNotFound(thumbprint, app.clientId)
  try {
    await compactVerify(assertion, cert.publicKey, { algorithms: ['RS256', 'PS256'] })
  } catch {
    throw aadsts.clientAssertionSignature(thumbprint, app.clientId)
  }
  // A key credential is usable only between its start and end dates (the certificate's, when uploaded).
  // https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials
  const nowMs = context.clock.now()
  if (cert.validFromDate.getTime() > nowMs || cert.validToDate.getTime() <= nowMs) throw aadsts.clientCertificateNotValid(thumbprint, app.clientId)
  if (claims.iss !== app.clientId || claims.sub !== app.clientId) throw aadsts.clientAssertionSubject()
  const accepted = new Set([request.tenant.id, request.tenant.domain, request.tenantSegment].flatMap(tenant => [
    `${context.url}/${tenant}/oauth2/v2.0/token`.toLowerCase(),
    `${context.url}/${tenant}/oauth2/token`.toLowerCase(),
  ]))
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
  if (!audiences.some(aud => typeof aud === 'string' && accepted.has(aud.toLowerCase()))) throw aadsts.clientAssertionAudience()
  const now = Math.floor(nowMs / 1000)
  const at = (sec: number | undefined) => sec === undefined ? 'n/a' : entraTimestamp(new Date(sec * 1000))
  if (claims.exp === undefined || claims.exp <= now || (claims.nbf !== undefined && claims.nbf > now + NBF_SKEW_SEC)) {
    throw aadsts.clientAssertionTime(at(now), at(claims.nbf), at(claims.exp))
  }
}

/** Header and claims of a JWT before any check; a malformed one is Entra's AADSTS50027. */
export function decodeUnverifiedJwt (token: string): { header: Record<string, unknown>, claims: JWTPayload } {
  try {
    return { header: decodeProtectedHeader(token) as Record<string, unknown>, claims: decodeJwt(token) }
  } catch {
    throw aadsts.malformedJwt()
  }
}
