// grant_type=refresh_token: bound to its client; each use returns a new refresh token.
import { aadsts, entraTimestamp } from '../errors.ts'
import type { UserIssuance } from '../tokens.ts'
import { delegatedGrant, requireParam, wantsClientInfo, type GrantRequest } from './common.ts'

export async function refreshTokenGrant ({ context, body, client }: GrantRequest): Promise<UserIssuance> {
  const refreshToken = requireParam(body, 'refresh_token')
  const scope = requireParam(body, 'scope')
  const grant = context.store.refreshTokens.get(refreshToken)
  if (grant === undefined) throw aadsts.grantMalformed()
  if (grant.clientId.toLowerCase() !== client.app.clientId.toLowerCase()) throw aadsts.grantOfOtherClient()
  const now = Date.now()
  if (grant.expiresAtMs <= now) {
    context.store.refreshTokens.delete(refreshToken)
    throw aadsts.refreshTokenExpired(entraTimestamp(new Date(grant.issuedAtMs)), (now - grant.issuedAtMs) / 1000)
  }
  const user = context.registry.findUser(grant.userOid)
  if (user === undefined) throw aadsts.grantMalformed()
  const delegated = delegatedGrant(context, scope, user, client.app)
  return {
    kind: 'user',
    user,
    client: client.app,
    azpacr: client.azpacr,
    ...delegated,
    // A refresh always yields a new refresh token.
    oidc: new Set([...delegated.oidc, 'offline_access']),
    sid: grant.sid,
    nonce: undefined,
    clientInfo: wantsClientInfo(body),
    authTimeSec: grant.authTimeSec,
  }
}
