// Aggregated tool names: <server><separator><tool>, at most 128 characters, shortened deterministically.
import { describe, expect, it } from 'vitest'
import { exposedToolName, MAX_TOOL_NAME_LENGTH, parseToolName } from '../../src/gateway/tool-names.ts'
import { ConfigError, loadConfig } from '../../src/config/index.ts'

describe('aggregated tool names', () => {
  it('prefixes the server id and parses back to the longest matching id', () => {
    expect(exposedToolName('notes', 'whoami', '__')).toBe('notes__whoami')
    expect(parseToolName('notes__whoami', ['notes', 'calendar'], '__')).toEqual({ serverId: 'notes', tool: 'whoami' })
    expect(parseToolName('notes-2__x', ['notes', 'notes-2'], '__')).toEqual({ serverId: 'notes-2', tool: 'x' })
    expect(parseToolName('other__x', ['notes'], '__')).toBeUndefined()
    expect(exposedToolName('notes', 'whoami', '.')).toBe('notes.whoami')
  })

  it('shortens a name over 128 characters with a hash suffix: same input, same name; different input, different name', () => {
    const long = 'a'.repeat(126)
    const name = exposedToolName('notes', long, '__')
    expect(name).toHaveLength(MAX_TOOL_NAME_LENGTH)
    expect(name).toMatch(/^[A-Za-z0-9_.-]+$/)
    expect(exposedToolName('notes', long, '__')).toBe(name)
    expect(exposedToolName('notes', `${long}b`, '__')).not.toBe(name)
    // Only the tool list can tell which tool a shortened name stands for.
    expect(parseToolName(name, ['notes'], '__')).toEqual({ serverId: 'notes', tool: undefined })
  })
})

describe('gateway settings', () => {
  const base = { TENANT_ID: '11111111-1111-1111-1111-111111111111', CLIENT_ID: '22222222-2222-2222-2222-222222222222', CLIENT_SECRET: 's', SCOPE: 'api://22222222-2222-2222-2222-222222222222/user_impersonation' }
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadConfig({ ...base, ...env })
      return []
    } catch (err) {
      return err instanceof ConfigError ? err.problems : ['not a ConfigError']
    }
  }

  it('has defaults', () => {
    const config = loadConfig(base)
    expect(config).toMatchObject({ toolNameSeparator: '__', toolFilters: [], streamIdleTimeoutMs: 300_000, streamTotalTimeoutMs: 900_000, sseKeepAliveMs: 15_000, mcpSessionTtlSec: 3600 })
    expect(config.mcpAllowedHosts).toEqual(['localhost:8080', '127.0.0.1:8080', '[::1]:8080'])
    expect(loadConfig({ ...base, PUBLIC_URL: 'https://relay.example' }).mcpAllowedHosts).toEqual(['relay.example'])
  })

  it('names every bad gateway setting', () => {
    expect(problems({ TOOL_NAME_SEPARATOR: '/' })).toEqual([expect.stringContaining('TOOL_NAME_SEPARATOR')])
    expect(problems({ TOOL_FILTERS: 'allow all' })).toEqual([expect.stringContaining('TOOL_FILTERS must be a JSON list')])
    expect(problems({ TOOL_FILTERS: '[{"server":"notes","tools":["x"],"effect":"maybe"}]' })).toEqual([expect.stringContaining('"effect"')])
    expect(problems({ TOOL_FILTERS: '[{"server":"notes","tools":["x"],"effect":"deny","users":["a"]}]' })).toEqual([expect.stringContaining('unknown field')])
    expect(problems({ SSE_KEEPALIVE_MS: '200000' })).toEqual([expect.stringContaining('SSE_KEEPALIVE_MS')])
  })
})
