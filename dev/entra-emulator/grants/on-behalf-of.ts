// grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer with requested_token_use=on_behalf_of.
// @see https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow
import { verifyUserAssertion } from '../assertion.ts'
import { NO_STEP_UP } from '../claims.ts'
import { aadsts } from '../errors.ts'
import { newSessionId, type UserIssuance } from '../tokens.ts'
import { clientCapabilitiesOf, delegatedGrant, requireParam, requireStepUp, wantsClientInfo, type GrantRequest } from './common.ts'

export async function onBehalfOfGrant ({ context, body, client, tenant, claims }: GrantRequest): Promise<UserIssuance> {
  const requestedTokenUse = requireParam(body, 'requested_token_use')
  if (requestedTokenUse !== 'on_behalf_of') throw aadsts.malformedRequest()
  const assertion = requireParam(body, 'assertion')
  const scope = requireParam(body, 'scope')
  // Only a confidential client can act on behalf of a user.
  if (client.azpacr === '0') throw aadsts.missingClientCredentials()
  const { user, claims: assertionClaims, sid } = await verifyUserAssertion(context, assertion, client.app, tenant)
  // The user's step-up travels with the token it produced (acrs carried on, as Entra does).
  const stepUp = (typeof assertionClaims.uti === 'string' ? context.store.stepUps.get(assertionClaims.uti) : undefined) ?? NO_STEP_UP
  const delegated = delegatedGrant(context, tenant, scope, user, client.app)
  requireStepUp(claims, body.claims, stepUp, delegated.resource.clientId)
  return {
    kind: 'user',
    tenant,
    user,
    client: client.app,
    azpacr: client.azpacr,
    ...delegated,
    sid: sid ?? newSessionId(),
    nonce: undefined,
    clientInfo: wantsClientInfo(body),
    authTimeSec: typeof assertionClaims.iat === 'number' ? assertionClaims.iat : Math.floor(context.clock.now() / 1000),
    stepUp,
    clientCapabilities: clientCapabilitiesOf(claims),
    refreshChain: { redirectType: 'web' },
  }
}
