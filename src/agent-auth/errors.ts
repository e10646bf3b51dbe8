// oidc-provider's errors in the relay's shape: `{ error, error_description }` as the provider answers (only its
// exposed messages), plus our stable `reason` and the request id. Reasons are part of the API (README).

interface ReasonRule { error: string | RegExp, description?: RegExp, route?: string, reason: string }

/** First match wins; a provider error with no rule gets `oauth_<error>`. */
const RULES: ReasonRule[] = [
  { error: 'use_dpop_nonce', reason: 'dpop_nonce_required' },
  { error: 'invalid_dpop_proof', reason: 'dpop_proof_invalid' },
  { error: 'invalid_grant', description: /DPoP proof JWT Replay/i, reason: 'dpop_proof_replayed' },
  { error: 'invalid_request', description: /DPoP proof JWT Replay/i, reason: 'dpop_proof_replayed' },
  // A client registered with dpop_bound_access_tokens that sent no proof (not a binding mismatch: there is no key).
  { error: 'invalid_grant', description: /DPoP proof JWT not provided/i, reason: 'dpop_proof_required' },
  { error: 'invalid_grant', description: /jkt verification|DPoP proof/i, reason: 'dpop_binding_mismatch' },
  { error: 'invalid_redirect_uri', reason: 'redirect_uri_invalid' },
  { error: 'invalid_request', description: /redirect_uri/i, reason: 'redirect_uri_invalid' },
  { error: 'invalid_request', description: /requires PKCE|code_challenge must be provided/i, reason: 'pkce_required' },
  { error: 'invalid_request', description: /code_challenge_method/i, reason: 'pkce_method_unsupported' },
  { error: 'invalid_grant', description: /PKCE|code_verifier/i, reason: 'pkce_verifier_invalid' },
  { error: 'invalid_grant', description: /refresh token already used/i, reason: 'refresh_token_reused' },
  { error: 'invalid_grant', description: /authorization code already consumed/i, reason: 'code_reused' },
  { error: 'invalid_grant', description: /already (used|consumed)/i, reason: 'grant_reused' },
  { error: 'invalid_grant', description: /refresh token/i, reason: 'refresh_token_invalid' },
  { error: 'invalid_grant', description: /authorization code/i, reason: 'code_invalid' },
  { error: 'invalid_grant', reason: 'grant_invalid' },
  { error: 'invalid_client', description: /metadata document fetch/i, reason: 'client_metadata_refused' },
  { error: 'invalid_client_metadata', description: /metadata document/i, reason: 'client_metadata_invalid' },
  { error: 'invalid_client_metadata', reason: 'client_metadata_invalid' },
  { error: 'invalid_client', reason: 'client_invalid' },
  { error: 'invalid_token', route: 'registration', reason: 'registration_token_invalid' },
  { error: 'invalid_target', reason: 'resource_invalid' },
  { error: 'invalid_scope', reason: 'scope_invalid' },
  { error: 'unauthorized_client', route: 'introspection', reason: 'introspection_refused' },
  { error: 'access_denied', reason: 'access_denied' },
  { error: /^(authorization_pending|slow_down|expired_token)$/, reason: 'device_code_pending' },
  { error: 'invalid_token', reason: 'token_invalid' },
  { error: 'server_error', reason: 'internal' },
]

/** The stable reason of a provider error, e.g. `refresh_token_reused` or `oauth_unsupported_grant_type`. */
export function reasonForProviderError (error: string, description: string | undefined, route: string | undefined): string {
  for (const rule of RULES) {
    const errorMatches = typeof rule.error === 'string' ? rule.error === error : rule.error.test(error)
    if (!errorMatches) continue
    if (rule.description !== undefined && !rule.description.test(description ?? '')) continue
    if (rule.route !== undefined && rule.route !== route) continue
    if (rule.error === 'use_dpop_nonce' && /stale|recent/.test(description ?? '')) return 'dpop_proof_stale'
    return rule.reason
  }
  return `oauth_${error.replace(/[^a-z_]/g, '')}`
}

/** Provider answers in 4xx with these are refused requests; for the log they are info, not errors. */
export function isProviderErrorBody (body: unknown): body is { error: string, error_description?: string } {
  return typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string'
}
