// Maps what MSAL/Entra said during a token call to the relay's answers (DESIGN §2). Never a 500 for
// a user-fixable condition, never Entra's text verbatim beyond the AADSTS code.
import { AuthError, InteractionRequiredAuthError } from '@azure/msal-node'
import { errors, RelayError } from '../errors.ts'
import type { EntraExchangeRecord } from './msal.ts'

/** AADSTS codes that mean "the user must satisfy Conditional Access / MFA interactively". */
const INTERACTION_CODES = new Set(['50076', '50079', '53003', '50158', '53000', '53001'])

export interface EntraErrorContext {
  record: EntraExchangeRecord
  /** Builds the relay's sign-in URL for the caller to follow (with claims or consent prompt). */
  loginUrl: LoginUrlBuilder
  /** The scopes being obtained: a consent sign-in asks the user to grant exactly these. */
  scopes?: string[]
  /** e.g. `the token for server "notes"` — names what was being obtained. */
  what: string
}

export type LoginUrlBuilder = (options: { claims?: string, prompt?: 'consent', consentScopes?: string[] }) => string

export function aadstsCode (err: unknown): string | undefined {
  if (!(err instanceof AuthError)) return undefined
  const errorNo = (err as { errorNo?: unknown }).errorNo
  if (typeof errorNo === 'string' && /^\d+$/.test(errorNo)) return errorNo
  return /AADSTS(\d+)/.exec(err.errorMessage ?? '')?.[1]
}

export function base64UrlClaims (claims: string): string {
  return Buffer.from(claims, 'utf8').toString('base64url')
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

  if (status === 429 || (status !== undefined && status >= 500)) {
    const retryAfter = context.record.retryAfterSec ?? (status === 429 ? 30 : 5)
    return errors.temporarilyUnavailable(`Entra is throttling or unavailable while obtaining ${context.what}${aadsts}; retry later.`, retryAfter, { logFields, cause: err })
  }
  const claims = err instanceof InteractionRequiredAuthError && err.claims !== '' && err.claims !== undefined ? err.claims : undefined
  if (code === '65001' || (err instanceof AuthError && (err.subError === 'consent_required' || err.errorCode === 'consent_required'))) {
    const consentUrl = context.loginUrl(context.scopes === undefined ? { prompt: 'consent' } : { prompt: 'consent', consentScopes: context.scopes })
    return errors.consentRequired(`Consent is required before the relay can obtain ${context.what}${aadsts}.`, consentUrl, { logFields })
  }
  // Any InteractionRequiredAuthError (also raised by MSAL itself: no_tokens_found, refresh_token_expired,
  // login_required, bad_token) means only the user can fix it: never a retryable 503.
  if (claims !== undefined || (code !== undefined && INTERACTION_CODES.has(code)) || err instanceof InteractionRequiredAuthError) {
    const encoded = claims === undefined ? undefined : base64UrlClaims(claims)
    return errors.interactionRequired(`Entra requires the user to sign in again to satisfy a policy before obtaining ${context.what}${aadsts}.`,
      encoded, context.loginUrl(claims === undefined ? {} : { claims: encoded as string }), { logFields })
  }
  if (err instanceof AuthError && err.errorCode === 'invalid_grant') {
    return errors.interactionRequired(`Entra refused the user's credentials while obtaining ${context.what}${aadsts}; sign in again.`,
      undefined, context.loginUrl({}), { logFields })
  }
  if (err instanceof AuthError && (err.errorCode === 'invalid_client' || err.errorCode === 'unauthorized_client')) {
    return errors.serverError(`Entra refused the relay's own client credentials${aadsts}; an operator must check CLIENT_SECRET or CLIENT_CERTIFICATE_PATH.`, { logFields })
  }
  if (err instanceof AuthError && err.errorCode === 'invalid_scope') {
    return errors.badGateway(`Entra refused the scope requested for ${context.what}${aadsts}.`, { logFields })
  }
  if (status === undefined) {
    // No answer at all: connection refused, TLS failure, timeout.
    return errors.temporarilyUnavailable(`Entra cannot be reached while obtaining ${context.what}.`, 5, { logFields, cause: err })
  }
  return errors.badGateway(`Entra refused the request for ${context.what}${aadsts}.`, { logFields })
}
