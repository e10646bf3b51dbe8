// Typed readers over one environment object; every problem is collected so one start names them all.

export type Env = Record<string, string | undefined>

export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

export interface EnvReader {
  problems: string[]
  get: (name: string) => string | undefined
  required: (name: string, expected: string) => string
  url: (name: string, value: string | undefined, expected: string) => URL | undefined
  integer: (name: string, fallback: number, min: number, max: number) => number
  list: (name: string) => string[] | undefined
  flag: (name: string, fallback: boolean) => boolean
}

export function envReader (env: Env): EnvReader {
  const problems: string[] = []
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  return {
    problems,
    get,
    required: (name, expected) => {
      const value = get(name)
      if (value === undefined) problems.push(`${name} is required: ${expected}`)
      return value ?? ''
    },
    url: (name, value, expected) => {
      if (value === undefined) return undefined
      try {
        const parsed = new URL(value)
        if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('scheme')
        return parsed
      } catch {
        problems.push(`${name} must be ${expected} (got "${value}")`)
        return undefined
      }
    },
    integer: (name, fallback, min, max) => {
      const value = get(name)
      if (value === undefined) return fallback
      const n = Number(value)
      if (!Number.isInteger(n) || n < min || n > max) {
        problems.push(`${name} must be an integer from ${min} to ${max} (got "${value}")`)
        return fallback
      }
      return n
    },
    list: (name) => get(name)?.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    flag: (name, fallback) => {
      const value = get(name)?.toLowerCase()
      if (value === undefined) return fallback
      if (value === 'true' || value === '1') return true
      if (value === 'false' || value === '0') return false
      problems.push(`${name} must be true or false (got "${value}")`)
      return fallback
    },
  }
}
