// grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer with requested_token_use=on_behalf_of.
import { verifyUserAssertion } from '../assertion.ts'
import { aadsts } from '../errors.ts'
import { newSessionId, type UserIssuance } from '../tokens.ts'
import { delegatedGrant, requireParam, wantsClientInfo, type GrantRequest } from './common.ts'

export async function onBehalfOfGrant ({ context, body, client }: GrantRequest): Promise<UserIssuance> {
  const requestedTokenUse = requireParam(body, 'requested_token_use')
  if (requestedTokenUse !== 'on_behalf_of') throw aadsts.malformedRequest()
  const assertion = requireParam(body, 'assertion')
  const scope = requireParam(body, 'scope')
  // Only a confidential client can act on behalf of a user.
  if (client.azpacr === '0') throw aadsts.missingClientCredentials()
  const { user, claims, sid } = await verifyUserAssertion(context, assertion, client.app)
  return {
    kind: 'user',
    user,
    client: client.app,
    azpacr: client.azpacr,
    ...delegatedGrant(context, scope, user, client.app),
    sid: sid ?? newSessionId(),
    nonce: undefined,
    clientInfo: wantsClientInfo(body),
    authTimeSec: typeof claims.iat === 'number' ? claims.iat : Math.floor(Date.now() / 1000),
  }
}
