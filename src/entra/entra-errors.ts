// Maps what MSAL/Entra said during a token call to the relay's answers (DESIGN §2), by AADSTS code first.
// Never a 500 for a user-fixable condition, never Entra's text verbatim beyond the AADSTS code.
// Codes: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
import { AuthError, InteractionRequiredAuthError } from '@azure/msal-node'
import { interactionRequired, relayError, RelayError, temporarilyUnavailable, type ErrorIntent } from '../errors.ts'
import type { EntraExchangeRecord } from './msal.ts'

/** AADSTS codes that mean "the user must satisfy Conditional Access / MFA interactively" (step-up, not a block). */
const INTERACTION_CODES = new Set(['50076', '50079', '50158', '53000', '53001', '50072', '50074'])

export interface EntraErrorContext {
  record: EntraExchangeRecord
  /** The scopes being obtained: a consent sign-in asks the user to grant exactly these. */
  scopes?: string[]
  /** The user's tenant (for an admin consent link). */
  tenantId?: string
  /** e.g. `the token for server "notes"` — names what was being obtained. */
  what: string
}

export function aadstsCode (err: unknown): string | undefined {
  if (!(err instanceof AuthError)) return undefined
  const errorNo = (err as { errorNo?: unknown }).errorNo
  if (typeof errorNo === 'string' && /^\d+$/.test(errorNo)) return errorNo
  return /AADSTS(\d+)/.exec(err.errorMessage ?? '')?.[1]
}

export function base64UrlClaims (claims: string): string {
  return Buffer.from(claims, 'utf8').toString('base64url')
}

/**
 * The AADSTS codes whose meaning does not depend on how they arrived (a token response or an error redirect
 * to the callback): each a stable reason, and who can act.
 */
function byAadstsCode (code: string, context: EntraErrorContext, options: { logFields: Record<string, unknown> }): RelayError | undefined {
  const aadsts = ` (AADSTS${code})`
  const what = context.what
  const consentIntent: ErrorIntent = { kind: 'consent', scopes: context.scopes ?? [] }
  const adminIntent: ErrorIntent = { kind: 'admin_consent', tenantId: context.tenantId ?? 'organizations', scopes: context.scopes ?? [] }
  switch (code) {
    case '53003': // BlockedByConditionalAccess: issuance is refused outright; signing in again changes nothing.
      return relayError('access_blocked', `Conditional Access blocks issuing ${what}${aadsts}; the user's administrator must change the policy.`, options)
    case '50196': // LoopDetected (HTTP 400): the same request too often; back off.
      return temporarilyUnavailable('entra_throttled', `Entra detected a request loop while obtaining ${what}${aadsts}; retry later.`, context.record.retryAfterSec ?? 60, options)
    case '650053': // The PRM named a scope the API does not expose.
    case '70011':
      return relayError('downstream_scope_unknown', `Entra does not know the scope requested for ${what}${aadsts}; the server's PRM or configured scopes name a scope its API does not expose.`, options)
    case '700016': // The relay's app is not provisioned in the user's tenant.
      return relayError('tenant_not_provisioned', `The relay is not registered in the user's tenant${aadsts}; a tenant administrator must consent to it first.`, { ...options, intent: adminIntent })
    case '7000114': // An app-only token was used as the OBO assertion.
      return relayError('obo_assertion_refused', `Entra refuses an On-Behalf-Of exchange for an app-only token${aadsts}; call the relay with a user's token.`, options)
    case '65004': // The user declined consent.
      return relayError('consent_declined', `The user declined consent while obtaining ${what}${aadsts}.`, { ...options, intent: consentIntent })
    case '90094': // Admin approval needed (user consent disabled or an admin-only scope).
      return relayError('admin_consent_required', `An administrator must approve the relay's access before it can obtain ${what}${aadsts}.`, { ...options, intent: adminIntent })
    case '7000222': // Expired client secret.
      return relayError('relay_credentials_refused', `The relay's client secret has expired${aadsts}; an operator must set a new CLIENT_SECRET.`, options)
    case '700027': // Certificate expired, not yet valid, or unknown.
      return relayError('relay_credentials_refused', `Entra refused the relay's client certificate${aadsts}; an operator must check CLIENT_CERTIFICATE_PATH (expired or not registered).`, options)
  }
  return undefined
}

/**
 * An error redirect to the callback (`error`, `error_description` with the AADSTS code, no `code`).
 * @see https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#error-response
 */
export function mapAuthorizeError (error: string, description: string | undefined, context: Pick<EntraErrorContext, 'scopes' | 'tenantId'>): RelayError {
  const code = /AADSTS(\d+)/.exec(description ?? '')?.[1]
  const logFields = { aadsts: code, entraError: error.replace(/[^\w]/g, '').slice(0, 64) }
  const known = code === undefined ? undefined : byAadstsCode(code, { ...context, record: {}, what: 'the sign-in' }, { logFields })
  if (known !== undefined) return known
  if (code === '65001' || error === 'consent_required') return relayError('consent_required', `Consent is required to sign in${code === undefined ? '' : ` (AADSTS${code})`}.`, { logFields, intent: { kind: 'consent', scopes: context.scopes ?? [] } })
  return relayError('sign_in_refused', `Entra did not complete the sign-in (${logFields.entraError}${code === undefined ? '' : `, AADSTS${code}`}).`, { logFields })
}

export function mapEntraError (err: unknown, context: EntraErrorContext): RelayError {
  if (err instanceof RelayError) return err
  const code = aadstsCode(err)
  const logFields = {
    aadsts: code,
    entraStatus: context.record.status,
    correlationId: context.record.correlationId ?? (err instanceof AuthError ? err.correlationId : undefined),
    msalError: err instanceof AuthError ? err.errorCode : undefined,
    subError: err instanceof AuthError ? err.subError : undefined,
  }
  const status = context.record.status
  const aadsts = code === undefined ? '' : ` (AADSTS${code})`
  const what = context.what
  const options = { logFields }
  const consentIntent: ErrorIntent = { kind: 'consent', scopes: context.scopes ?? [] }

  const known = code === undefined ? undefined : byAadstsCode(code, context, options)
  if (known !== undefined) return known

  if (status === 429 || (status !== undefined && status >= 500)) {
    const retryAfter = context.record.retryAfterSec ?? (status === 429 ? 30 : 5)
    return temporarilyUnavailable(status === 429 ? 'entra_throttled' : 'entra_unavailable', `Entra is throttling or unavailable while obtaining ${what}${aadsts}; retry later.`, retryAfter, { logFields, cause: err })
  }
  const claims = err instanceof InteractionRequiredAuthError && err.claims !== '' && err.claims !== undefined ? err.claims : undefined
  if (code === '65001' || (err instanceof AuthError && (err.subError === 'consent_required' || err.errorCode === 'consent_required'))) {
    return relayError('consent_required', `Consent is required before the relay can obtain ${what}${aadsts}.`, { ...options, intent: consentIntent })
  }
  // Any InteractionRequiredAuthError (also raised by MSAL itself: no_tokens_found, refresh_token_expired,
  // login_required, bad_token) means only the user can fix it: never a retryable 503.
  if (claims !== undefined || (code !== undefined && INTERACTION_CODES.has(code)) || err instanceof InteractionRequiredAuthError) {
    const encoded = claims === undefined ? undefined : base64UrlClaims(claims)
    return interactionRequired(encoded === undefined ? 'sign_in_required' : 'claims_challenge',
      `Entra requires the user to sign in again to satisfy a policy before obtaining ${what}${aadsts}.`, encoded, options)
  }
  if (err instanceof AuthError && err.errorCode === 'invalid_grant') {
    return interactionRequired('sign_in_required', `Entra refused the user's credentials while obtaining ${what}${aadsts}; sign in again.`, undefined, options)
  }
  if (err instanceof AuthError && (err.errorCode === 'invalid_client' || err.errorCode === 'unauthorized_client')) {
    return relayError('relay_credentials_refused', `Entra refused the relay's own client credentials${aadsts}; an operator must check CLIENT_SECRET or CLIENT_CERTIFICATE_PATH.`, options)
  }
  if (err instanceof AuthError && err.errorCode === 'invalid_scope') {
    return relayError('downstream_scope_unknown', `Entra refused the scope requested for ${what}${aadsts}.`, options)
  }
  if (status === undefined) {
    // No answer at all: connection refused, TLS failure, timeout.
    return temporarilyUnavailable('entra_unavailable', `Entra cannot be reached while obtaining ${what}.`, 5, { logFields, cause: err })
  }
  return relayError('entra_refused', `Entra refused the request for ${what}${aadsts}.`, options)
}
