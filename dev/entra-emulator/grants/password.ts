// grant_type=password (ROPC) for the test users: no interaction, so no consent prompt either.
import { createHash, timingSafeEqual } from 'node:crypto'
import { aadsts } from '../errors.ts'
import { newSessionId, type UserIssuance } from '../tokens.ts'
import { delegatedGrant, requireParam, wantsClientInfo, type GrantRequest } from './common.ts'

export function passwordMatches (given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(given), digest(expected))
}

export async function passwordGrant ({ context, body, client }: GrantRequest): Promise<UserIssuance> {
  const username = requireParam(body, 'username')
  const password = requireParam(body, 'password')
  const scope = requireParam(body, 'scope')
  const user = context.registry.findUser(username)
  if (user === undefined || user.username.toLowerCase() !== username.toLowerCase()) throw aadsts.userNotFound(context.registry.tenantDomain)
  if (!passwordMatches(password, user.password)) throw aadsts.invalidCredentials()
  return {
    kind: 'user',
    user,
    client: client.app,
    azpacr: client.azpacr,
    ...delegatedGrant(context, scope, user, client.app),
    sid: newSessionId(),
    nonce: undefined,
    clientInfo: wantsClientInfo(body),
    authTimeSec: Math.floor(Date.now() / 1000),
  }
}
