// A tolerant WWW-Authenticate parser: several challenges, quoted strings with commas and escapes, token68.

export interface AuthChallenge {
  /** As sent; compare case-insensitively. */
  scheme: string
  /** Lowercased parameter names (null prototype); the first occurrence wins. */
  params: Record<string, string>
  token68?: string
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y
const TOKEN68 = /[A-Za-z0-9\-._~+/]+=*/y
const OWS = /[ \t]*/y

/**
 * Parses every challenge of a `WWW-Authenticate` value (several header lines may be joined with ", ").
 * @see RFC 9110 §11.6.1, RFC 6750 §3
 */
export function parseWwwAuthenticate (header: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = []
  const length = header.length
  let pos = 0
  const match = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = pos
    const found = pattern.exec(header)
    if (found === null) return undefined
    pos = pattern.lastIndex
    return found[0]
  }
  const skipSeparators = (): void => {
    while (pos < length && (header[pos] === ',' || header[pos] === ' ' || header[pos] === '\t')) pos++
  }
  const quotedString = (): string => {
    let value = ''
    pos++ // opening quote
    while (pos < length) {
      const char = header[pos++]
      if (char === '"') return value
      if (char === '\\' && pos < length) value += header[pos++]
      else value += char
    }
    return value // unterminated: keep what there is
  }

  while (true) {
    skipSeparators()
    if (pos >= length) break
    const scheme = match(TOKEN)
    if (scheme === undefined) {
      // Not a challenge: skip to the next list element.
      const comma = header.indexOf(',', pos + 1)
      pos = comma === -1 ? length : comma
      continue
    }
    const challenge: AuthChallenge = { scheme, params: Object.create(null) as Record<string, string> }
    challenges.push(challenge)
    match(OWS)
    const start = pos
    const token68 = match(TOKEN68)
    if (token68 !== undefined) {
      match(OWS)
      if (pos >= length || header[pos] === ',') {
        challenge.token68 = token68
        continue
      }
      pos = start
    }
    // auth-params until something that is not `name = value`, which starts the next challenge.
    while (pos < length) {
      const before = pos
      const name = match(TOKEN)
      if (name === undefined) break
      match(OWS)
      if (header[pos] !== '=') {
        pos = before
        break
      }
      pos++
      match(OWS)
      const value = header[pos] === '"' ? quotedString() : (match(TOKEN) ?? '')
      const key = name.toLowerCase()
      if (!(key in challenge.params)) challenge.params[key] = value
      match(OWS)
      if (header[pos] !== ',') break
      skipSeparators()
    }
  }
  return challenges
}

/** The parameters of the first Bearer challenge, if any. */
export function findBearerChallenge (header: string | undefined): Record<string, string> | undefined {
  if (header === undefined) return undefined
  return parseWwwAuthenticate(header).find((challenge) => challenge.scheme.toLowerCase() === 'bearer')?.params
}
