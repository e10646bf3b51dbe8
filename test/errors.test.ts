import { describe, expect, it } from 'vitest'
import { parseWwwAuthenticate } from '../src/discovery/www-authenticate.ts'
import { formatChallenge, REASONS, relayError } from '../src/errors.ts'

const formatBearerChallenge = (challenge: Parameters<typeof formatChallenge>[1], url: string) => formatChallenge('Bearer', challenge, url)

describe('formatBearerChallenge', () => {
  it('escapes quotes and backslashes so no value can add parameters', () => {
    const header = formatBearerChallenge({ error: 'invalid_token', errorDescription: 'say "hi"\\, error="x"', claims: 'e30", resource_metadata="https://evil' }, 'https://relay/.well-known/oauth-protected-resource')
    const [challenge, ...rest] = parseWwwAuthenticate(header)
    expect(rest).toEqual([])
    expect(challenge!.params.resource_metadata).toBe('https://relay/.well-known/oauth-protected-resource')
    expect(challenge!.params.error).toBe('invalid_token')
    expect(challenge!.params.error_description).toBe('say "hi"\\, error="x"')
    expect(challenge!.params.claims).toBe('e30", resource_metadata="https://evil')
  })

  it('never carries a line break', () => {
    expect(formatBearerChallenge({ errorDescription: 'a\r\nSet-Cookie: x=1' }, 'https://relay/prm')).not.toMatch(/[\r\n]/)
  })
})

describe('the error catalog', () => {
  it('gives every reason an HTTP status and an OAuth-style code', () => {
    for (const [reason, [status, code]] of Object.entries(REASONS)) {
      expect(status, reason).toBeGreaterThanOrEqual(400)
      expect(code, reason).toMatch(/^[a-z_]+$/)
    }
  })

  it('a 401 challenges; one without credentials has no error code (RFC 6750 §3.1)', () => {
    expect(relayError('token_expired', 'expired').challenge).toEqual({ error: 'invalid_token', errorDescription: 'expired' })
    expect(relayError('credentials_missing', 'sign in').challenge).toEqual({})
    expect(relayError('downstream_timeout', 'slow').challenge).toBeUndefined()
  })

  it('renders DPoP challenges with the scheme and extra parameters', () => {
    const header = formatChallenge('DPoP', { error: 'use_dpop_nonce' }, 'https://relay/prm', { algs: 'ES256 EdDSA' })
    const [challenge] = parseWwwAuthenticate(header)
    expect(challenge?.scheme).toBe('DPoP')
    expect(challenge?.params).toMatchObject({ error: 'use_dpop_nonce', algs: 'ES256 EdDSA' })
  })
})
