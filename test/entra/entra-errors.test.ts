// What MSAL raises (its real error classes) → what the relay answers. A user-fixable condition is never a 503.
import { ClientAuthError, InteractionRequiredAuthError, ServerError } from '@azure/msal-node'
import { describe, expect, it } from 'vitest'
import { mapEntraError } from '../../src/entra/entra-errors.ts'

const loginUrl = (o: { claims?: string, prompt?: 'consent' }) => `https://relay/auth/login?${new URLSearchParams(o as Record<string, string>).toString()}`
const map = (err: unknown, record = {}) => mapEntraError(err, { record, loginUrl, what: 'the token' })

describe('mapEntraError', () => {
  it.each(['no_tokens_found', 'refresh_token_expired', 'login_required', 'bad_token', 'native_account_unavailable'])('MSAL %s → 401 interaction_required with a login_url', (code) => {
    const mapped = map(new InteractionRequiredAuthError(code, 'corr'))
    expect(mapped.statusCode).toBe(401)
    expect(mapped.code).toBe('interaction_required')
    expect(mapped.extra.login_url).toBe('https://relay/auth/login?')
  })

  it('MSAL consent_required → 403 consent_required asking for consent', () => {
    const mapped = map(new InteractionRequiredAuthError('consent_required', 'corr'))
    expect(mapped.statusCode).toBe(403)
    expect(mapped.extra.login_url).toBe('https://relay/auth/login?prompt=consent')
  })

  it('a claims challenge keeps its claims, base64url encoded', () => {
    const claims = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
    const mapped = map(new InteractionRequiredAuthError('interaction_required', 'corr', 'AADSTS50076: MFA', 'basic_action', '', '', claims))
    expect(mapped.statusCode).toBe(401)
    expect(mapped.extra.claims).toBe(Buffer.from(claims).toString('base64url'))
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
})
