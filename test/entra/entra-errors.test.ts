// What MSAL raises (its real error classes) → what the relay answers. A user-fixable condition is never a 503.
import { ClientAuthError, InteractionRequiredAuthError, ServerError } from '@azure/msal-node'
import { describe, expect, it } from 'vitest'
import { mapEntraError } from '../../src/entra/entra-errors.ts'

const map = (err: unknown, record = {}) => mapEntraError(err, { record, what: 'the token', scopes: ['api://notes-mcp/user_impersonation'], tenantId: 't1' })

describe('mapEntraError', () => {
  it.each(['no_tokens_found', 'refresh_token_expired', 'login_required', 'bad_token', 'native_account_unavailable'])('MSAL %s → 401 interaction_required asking for a sign-in', (code) => {
    const mapped = map(new InteractionRequiredAuthError(code, 'corr'))
    expect(mapped.statusCode).toBe(401)
    expect(mapped.code).toBe('interaction_required')
    expect(mapped.reason).toBe('sign_in_required')
    expect(mapped.intent).toEqual({ kind: 'sign_in' })
  })

  it('MSAL consent_required → 403 consent_required asking for consent to the scopes', () => {
    const mapped = map(new InteractionRequiredAuthError('consent_required', 'corr'))
    expect(mapped.statusCode).toBe(403)
    expect(mapped.intent).toEqual({ kind: 'consent', scopes: ['api://notes-mcp/user_impersonation'] })
  })

  it('a claims challenge keeps its claims, base64url encoded', () => {
    const claims = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
    const mapped = map(new InteractionRequiredAuthError('interaction_required', 'corr', 'AADSTS50076: MFA', 'basic_action', '', '', claims))
    expect(mapped.statusCode).toBe(401)
    expect(mapped.extra.claims).toBe(Buffer.from(claims).toString('base64url'))
    expect(mapped.intent).toEqual({ kind: 'sign_in', claims: Buffer.from(claims).toString('base64url') })
    expect(mapped.challenge).toMatchObject({ error: 'insufficient_claims' })
  })

  it('AADSTS65001 in a server error → 403 consent_required', () => {
    expect(map(new ServerError('invalid_grant', 'corr', 'AADSTS65001: The user or administrator has not consented')).code).toBe('consent_required')
  })

  it('429 and 5xx → 503 with the Retry-After Entra sent', () => {
    const mapped = map(new ServerError('temporarily_unavailable', 'corr', 'AADSTS90055: throttled'), { status: 429, retryAfterSec: 12 })
    expect(mapped.statusCode).toBe(503)
    expect(mapped.headers['retry-after']).toBe('12')
    expect(map(new ServerError('x', 'corr'), { status: 503 }).statusCode).toBe(503)
  })

  it('no answer at all (network) → 503; refused relay credentials → 500 naming the setting, not the secret', () => {
    expect(map(new ClientAuthError('network_error', 'corr')).statusCode).toBe(503)
    const creds = map(new ServerError('invalid_client', 'corr', 'AADSTS7000215: Invalid client secret provided.'), { status: 401 })
    expect(creds.statusCode).toBe(500)
    expect(creds.description).toContain('CLIENT_SECRET')
    expect(creds.description).not.toContain('Invalid client secret provided')
  })

  it.each([
    ['53003', 'access_blocked', 403],
    ['50196', 'entra_throttled', 503],
    ['650053', 'downstream_scope_unknown', 502],
    ['700016', 'tenant_not_provisioned', 403],
    ['7000114', 'obo_assertion_refused', 403],
    ['65004', 'consent_declined', 403],
    ['90094', 'admin_consent_required', 403],
    ['7000222', 'relay_credentials_refused', 500],
    ['700027', 'relay_credentials_refused', 500],
  ])('AADSTS%s → %s (%i), never a sign-in loop', (code, reason, status) => {
    const mapped = map(new ServerError('invalid_grant', 'corr', `AADSTS${code}: text from Entra`), { status: 400 })
    expect(mapped.reason).toBe(reason)
    expect(mapped.statusCode).toBe(status)
    expect(mapped.description).not.toContain('text from Entra')
    expect(mapped.intent?.kind).not.toBe('sign_in')
  })

  it('a tenant administrator is asked when only one can fix it', () => {
    expect(map(new ServerError('unauthorized_client', 'corr', 'AADSTS700016: not found'), { status: 400 }).intent).toEqual({ kind: 'admin_consent', tenantId: 't1', scopes: ['api://notes-mcp/user_impersonation'] })
  })
})
