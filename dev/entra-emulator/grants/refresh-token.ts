// grant_type=refresh_token: bound to its client and tenant; each use returns a new refresh token.
// Inactivity lifetime (sliding) → AADSTS700082; a SPA's fixed 24 h → AADSTS700084.
// @see https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens
import { aadsts, entraTimestamp } from '../errors.ts'
import type { UserIssuance } from '../tokens.ts'
import { clientCapabilitiesOf, delegatedGrant, requireParam, requireStepUp, wantsClientInfo, type GrantRequest } from './common.ts'

export async function refreshTokenGrant ({ context, body, client, tenant, claims }: GrantRequest): Promise<UserIssuance> {
  const refreshToken = requireParam(body, 'refresh_token')
  const scope = requireParam(body, 'scope')
  const grant = context.store.refreshTokens.get(refreshToken)
  if (grant === undefined) throw aadsts.grantMalformed()
  if (grant.clientId.toLowerCase() !== client.app.clientId.toLowerCase()) throw aadsts.grantOfOtherClient()
  if (grant.tenantId.toLowerCase() !== tenant.id.toLowerCase()) throw aadsts.grantMalformed()
  const now = context.clock.now()
  if (grant.spaExpiresAtMs !== undefined && grant.spaExpiresAtMs <= now) {
    context.store.refreshTokens.delete(refreshToken)
    throw aadsts.spaRefreshTokenExpired(context.spaRefreshTokenLifetimeSec, entraTimestamp(new Date(grant.chainIssuedAtMs)))
  }
  if (grant.expiresAtMs <= now) {
    context.store.refreshTokens.delete(refreshToken)
    throw aadsts.refreshTokenExpired(entraTimestamp(new Date(grant.issuedAtMs)), (now - grant.issuedAtMs) / 1000)
  }
  const user = tenant.findUser(grant.userOid)
  if (user === undefined) throw aadsts.grantMalformed()
  const delegated = delegatedGrant(context, tenant, scope, user, client.app)
  requireStepUp(claims, body.claims, grant.stepUp, delegated.resource.clientId)
  return {
    kind: 'user',
    tenant,
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
    stepUp: grant.stepUp,
    clientCapabilities: clientCapabilitiesOf(claims),
    refreshChain: {
      redirectType: grant.spaExpiresAtMs === undefined ? 'web' : 'spa',
      ...(grant.spaExpiresAtMs === undefined ? {} : { spaExpiresAtMs: grant.spaExpiresAtMs }),
      chainIssuedAtMs: grant.chainIssuedAtMs,
    },
  }
}
