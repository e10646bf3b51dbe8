import { describe, expect, it } from 'vitest'
import { parseWwwAuthenticate } from '../src/discovery/www-authenticate.ts'
import { formatBearerChallenge } from '../src/errors.ts'

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
