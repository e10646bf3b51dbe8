// grant_type=password (ROPC) for the test users: no interaction, so no consent prompt (nor step-up) either.
import { createHash, timingSafeEqual } from 'node:crypto'
import { NO_STEP_UP } from '../claims.ts'
import { aadsts } from '../errors.ts'
import { newSessionId, type UserIssuance } from '../tokens.ts'
import { clientCapabilitiesOf, delegatedGrant, requireParam, requireStepUp, wantsClientInfo, type GrantRequest } from './common.ts'

export function passwordMatches (given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(given), digest(expected))
}

export async function passwordGrant ({ context, body, client, tenant, claims }: GrantRequest): Promise<UserIssuance> {
  const username = requireParam(body, 'username')
  const password = requireParam(body, 'password')
  const scope = requireParam(body, 'scope')
  const user = tenant.findUser(username)
  if (user === undefined || user.username.toLowerCase() !== username.toLowerCase()) throw aadsts.userNotFound(tenant.domain)
  if (!passwordMatches(password, user.password)) throw aadsts.invalidCredentials()
  const delegated = delegatedGrant(context, tenant, scope, user, client.app)
  requireStepUp(claims, body.claims, NO_STEP_UP, delegated.resource.clientId)
  return {
    kind: 'user',
    tenant,
    user,
    client: client.app,
    azpacr: client.azpacr,
    ...delegated,
    sid: newSessionId(),
    nonce: undefined,
    clientInfo: wantsClientInfo(body),
    authTimeSec: Math.floor(context.clock.now() / 1000),
    stepUp: NO_STEP_UP,
    clientCapabilities: clientCapabilitiesOf(claims),
    refreshChain: { redirectType: client.app.isPublicClient === true ? 'publicClient' : 'web' },
  }
}
