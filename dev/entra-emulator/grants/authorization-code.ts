// grant_type=authorization_code: single use, 10 minutes, bound to client, tenant, redirect URI and PKCE.
import { createHash } from 'node:crypto'
import { aadsts } from '../errors.ts'
import type { UserIssuance } from '../tokens.ts'
import { clientCapabilitiesOf, delegatedGrant, requireParam, requireStepUp, wantsClientInfo, type GrantRequest } from './common.ts'

/** @see RFC 7636 §4.1 (verifier syntax) and §4.6 (S256 comparison) */
function verifierMatches (verifier: string | undefined, challenge: string): boolean {
  if (verifier === undefined || !/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return false
  return createHash('sha256').update(verifier).digest('base64url') === challenge
}

export async function authorizationCodeGrant ({ context, body, client, tenant, claims }: GrantRequest): Promise<UserIssuance> {
  const code = requireParam(body, 'code')
  const redirectUri = requireParam(body, 'redirect_uri')
  const grant = context.store.codes.get(code)
  if (grant === undefined) throw aadsts.grantMalformed()
  if (grant.clientId.toLowerCase() !== client.app.clientId.toLowerCase()) throw aadsts.grantOfOtherClient()
  if (grant.redeemed) throw aadsts.codeRedeemed()
  // Any redemption attempt by its client uses the code up, successful or not.
  grant.redeemed = true
  if (grant.tenantId.toLowerCase() !== tenant.id.toLowerCase()) throw aadsts.grantOfOtherTenant()
  if (grant.expiresAtMs <= context.clock.now()) throw aadsts.codeExpired()
  if (redirectUri !== grant.redirectUri) throw aadsts.replyAddressMismatch(redirectUri, grant.redirectUri)
  if (grant.codeChallenge !== undefined && !verifierMatches(body.code_verifier, grant.codeChallenge)) throw aadsts.codeVerifierMismatch()
  const user = tenant.findUser(grant.userOid)
  if (user === undefined) throw aadsts.grantMalformed()
  const delegated = delegatedGrant(context, tenant, body.scope ?? grant.scope, user, client.app)
  requireStepUp(claims, body.claims, grant.stepUp, delegated.resource.clientId)
  return {
    kind: 'user',
    tenant,
    user,
    client: client.app,
    azpacr: client.azpacr,
    ...delegated,
    sid: grant.sid,
    nonce: grant.nonce,
    clientInfo: wantsClientInfo(body),
    authTimeSec: grant.authTimeSec,
    stepUp: grant.stepUp,
    clientCapabilities: clientCapabilitiesOf(claims),
    refreshChain: { redirectType: grant.redirectType },
  }
}
