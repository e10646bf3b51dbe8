// The user assertion of an On-Behalf-Of request: an access token this tenant issued (RS256, a published
// key), v1 or v2 with that version's issuer, unexpired, for the calling app (client id or an App ID URI),
// and delegated (it has `scp`); an ID token is refused with AADSTS240002.
// @see https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow
import { createPublicKey } from 'node:crypto'
import { compactVerify, type JWTPayload } from 'jose'
import { decodeUnverifiedJwt, NBF_SKEW_SEC } from './client-auth.ts'
import { issuerOf, v1IssuerOf, type EmulatorContext } from './context.ts'
import { aadsts, entraTimestamp } from './errors.ts'
import { identifierUrisOf, type Tenant } from './registry.ts'
import type { AppRegistration, TestUser } from './types.ts'

export interface UserAssertion {
  user: TestUser
  claims: JWTPayload
  sid: string | undefined
}

function thumbprintOf (header: Record<string, unknown>): string {
  const value = header.x5t ?? header.kid
  if (typeof value !== 'string') return ''
  return /^[A-Za-z0-9_-]+$/.test(value) ? Buffer.from(value, 'base64url').toString('hex').toUpperCase() : value
}

function audienceMatches (audience: unknown, client: AppRegistration): boolean {
  if (typeof audience !== 'string') return false
  // GUIDs compare case-insensitively; App ID URIs must match exactly, as Entra requires.
  return audience.toLowerCase() === client.clientId.toLowerCase() || identifierUrisOf(client).includes(audience)
}

export async function verifyUserAssertion (context: EmulatorContext, assertion: string, client: AppRegistration,
  tenant: Tenant = context.registry.homeTenant): Promise<UserAssertion> {
  const { header, claims } = decodeUnverifiedJwt(assertion)
  const thumbprint = thumbprintOf(header)
  const key = typeof header.kid === 'string' ? context.keys.find(header.kid) : undefined
  if (key === undefined) throw aadsts.assertionSignature('The key was not found.', thumbprint)
  try {
    await compactVerify(assertion, createPublicKey(key.privateKey), { algorithms: ['RS256'] })
  } catch {
    throw aadsts.assertionSignature('The provided signature value did not match the expected signature value.', thumbprint)
  }
  // Each version has its own issuer: v1 tokens come from sts.windows.net, v2 ones from the v2.0 endpoint.
  const expectedIssuer = claims.ver === '1.0' ? v1IssuerOf(tenant.id) : issuerOf(context, tenant.id)
  if ((claims.ver !== '1.0' && claims.ver !== '2.0') || claims.iss !== expectedIssuer || claims.tid !== tenant.id) {
    throw aadsts.assertionInvalid(`The token issuer '${String(claims.iss)}' doesn't match the api version within its valid time range or the tenant.`)
  }
  const now = Math.floor(context.clock.now() / 1000)
  if (typeof claims.exp !== 'number' || claims.exp <= now || (typeof claims.nbf === 'number' && claims.nbf > now + NBF_SKEW_SEC)) {
    const exp = typeof claims.exp === 'number' ? entraTimestamp(new Date(claims.exp * 1000)) : 'n/a'
    throw aadsts.assertionExpired(entraTimestamp(new Date(now * 1000)), exp)
  }
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
  if (!audiences.some(aud => audienceMatches(aud, client))) {
    throw aadsts.assertionAudience(audiences.map(String).join(','), client.clientId, client.displayName)
  }
  if (typeof claims.scp !== 'string' || claims.scp === '') {
    // An app-only token (client credentials) cannot stand for a user.
    if (claims.idtyp === 'app' || claims.roles !== undefined || claims.oid === claims.sub) throw aadsts.appOnBehalfOf(client.clientId)
    // An ID token (a user, no permissions, issued to the client itself) is no access token.
    if (typeof claims.oid === 'string' && (claims.nonce !== undefined || (claims.azp === undefined && claims.appid === undefined))) throw aadsts.idTokenAssertion()
    throw aadsts.assertionInvalid('The assertion is not a delegated access token (it has no scp claim).')
  }
  const user = typeof claims.oid === 'string' ? tenant.findUser(claims.oid) : undefined
  if (user === undefined) throw aadsts.userNotFound(tenant.domain)
  return { user, claims, sid: typeof claims.sid === 'string' ? claims.sid : undefined }
}
