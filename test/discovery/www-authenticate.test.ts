import { describe, expect, it } from 'vitest'
import { findBearerChallenge, parseWwwAuthenticate } from '../../src/discovery/prm.ts'

describe('parseWwwAuthenticate', () => {
  it('reads quoted strings holding commas, equals signs and escaped quotes', () => {
    const [challenge] = parseWwwAuthenticate('Bearer realm="a, b=c", error_description="say \\"hi\\"", resource_metadata="https://h/.well-known/oauth-protected-resource/mcp"')
    expect(challenge?.scheme).toBe('Bearer')
    expect({ ...challenge?.params }).toEqual({
      realm: 'a, b=c',
      error_description: 'say "hi"',
      resource_metadata: 'https://h/.well-known/oauth-protected-resource/mcp',
    })
  })

  it('splits several challenges, with token68 and bare schemes', () => {
    const challenges = parseWwwAuthenticate('Basic realm="x", Negotiate abc+/de==, Bearer error=insufficient_claims, claims="eyJhIjoxfQ==", DPoP algs="ES256 EdDSA", Foo')
    expect(challenges.map((c) => c.scheme)).toEqual(['Basic', 'Negotiate', 'Bearer', 'DPoP', 'Foo'])
    expect(challenges[1]?.token68).toBe('abc+/de==')
    expect({ ...challenges[2]?.params }).toEqual({ error: 'insufficient_claims', claims: 'eyJhIjoxfQ==' })
    expect(challenges[3]?.params.algs).toBe('ES256 EdDSA')
  })

  it('lowercases names, keeps the first duplicate, tolerates odd spacing and junk', () => {
    const [challenge] = parseWwwAuthenticate('  bearer  Error = "a" ,, error="b",  Scope="x y"  ')
    expect({ ...challenge?.params }).toEqual({ error: 'a', scope: 'x y' })
    expect(parseWwwAuthenticate('')).toEqual([])
    expect(parseWwwAuthenticate('"junk", Bearer')).toMatchObject([{ scheme: 'Bearer' }])
    expect(parseWwwAuthenticate('Bearer realm="unterminated')[0]?.params.realm).toBe('unterminated')
  })

  it('is not fooled by __proto__', () => {
    const [challenge] = parseWwwAuthenticate('Bearer __proto__="x", error="e"')
    expect(challenge?.params.error).toBe('e')
    expect(({} as Record<string, unknown>).x).toBeUndefined()
  })

  it('finds the Bearer challenge among others', () => {
    expect(findBearerChallenge('Basic realm="r", Bearer resource_metadata="https://h/prm"')?.resource_metadata).toBe('https://h/prm')
    expect(findBearerChallenge('Basic realm="r"')).toBeUndefined()
    expect(findBearerChallenge(undefined)).toBeUndefined()
  })
})
