import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/index.ts'

const base = {
  TENANT_ID: '11111111-1111-1111-1111-111111111111',
  CLIENT_ID: '22222222-2222-2222-2222-222222222222',
  CLIENT_SECRET: 's',
  SCOPE: 'api://22222222-2222-2222-2222-222222222222/user_impersonation',
}

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env)
    return []
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
}

describe('configuration', () => {
  it('accepts the minimum and applies defaults', () => {
    const config = loadConfig(base)
    expect(config.port).toBe(8080)
    expect(config.publicUrl.href).toBe('http://localhost:8080/')
    expect(config.redirectUri.href).toBe('http://localhost:8080/auth/callback')
    expect(config.authorityHost.href).toBe('https://login.microsoftonline.com/')
    expect(config.allowedTenants).toEqual([base.TENANT_ID])
    expect(config.relayAudiences).toEqual([base.CLIENT_ID, 'api://22222222-2222-2222-2222-222222222222'])
    expect(config.mcpServers).toEqual([])
    expect(config.tokenEncryptionKeyGenerated).toBe(true)
  })

  it('counts the default App ID URI as the relay\'s own audience even when SCOPE names a custom one', () => {
    // Both identifiers can be on the registration: a PRM naming the default one must be refused like SCOPE's.
    const config = loadConfig({ ...base, SCOPE: 'https://relay.contoso.example/user_impersonation' })
    expect(config.relayAudiences).toEqual([base.CLIENT_ID, 'https://relay.contoso.example', `api://${base.CLIENT_ID}`])
  })

  it('names every missing variable and what it expects', () => {
    const problems = problemsOf({})
    for (const name of ['TENANT_ID', 'CLIENT_ID', 'SCOPE', 'CLIENT_SECRET']) expect(problems.join('\n')).toContain(name)
  })

  it.each([
    [{ TENANT_ID: 'contoso' }, 'TENANT_ID'],
    [{ CLIENT_ID: 'relay' }, 'CLIENT_ID'],
    [{ PORT: '80x' }, 'PORT'],
    [{ PUBLIC_URL: 'ftp://x' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'https://relay.example/sub' }, 'PUBLIC_URL'],
    [{ AUTHORITY_HOST: 'http://login.example' }, 'AUTHORITY_HOST'],
    [{ ALLOWED_TENANTS: 'contoso.com' }, 'ALLOWED_TENANTS'],
    [{ MCP_SERVERS: '[{' }, 'MCP_SERVERS'],
    [{ MCP_SERVERS: '[{"id":"Bad Id","url":"https://x/mcp"}]' }, 'MCP_SERVERS[0]'],
    [{ MCP_SERVERS: '[{"id":"a","url":"notaurl"}]' }, 'MCP_SERVERS[0]'],
    [{ MCP_SERVERS: '[{"id":"a","url":"https://x/mcp","scopes":[]}]' }, 'MCP_SERVERS[0]'],
    [{ MCP_SERVERS: '[{"id":"a","url":"https://x/mcp"},{"id":"a","url":"https://y/mcp"}]' }, 'duplicate'],
    [{ MCP_SCOPE: 'api://x/.default' }, 'MCP_SCOPE'],
    [{ REDIS_URL: 'redis://localhost:6379' }, 'TOKEN_ENCRYPTION_KEY'],
    [{ TOKEN_ENCRYPTION_KEY: 'c2hvcnQ=' }, 'TOKEN_ENCRYPTION_KEY'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ TRUSTED_CA_FILE: '/nonexistent/ca.pem' }, 'TRUSTED_CA_FILE'],
    [{ CLIENT_CERTIFICATE_PATH: '/nonexistent/cert.pem' }, 'CLIENT_CERTIFICATE_PATH'],
    [{ SCOPE: 'user_impersonation' }, 'SCOPE'],
  ])('refuses %j naming %s', (override, name) => {
    expect(problemsOf({ ...base, ...override }).join('\n')).toContain(name)
  })

  it('seed compatibility: RESOURCE_HOST + MCP_SCOPE make one server with a config scope', () => {
    const config = loadConfig({ ...base, RESOURCE_HOST: 'https://fn.example/runtime/webhooks/mcp', MCP_SCOPE: 'api://fn/user_impersonation' })
    expect(config.mcpServers).toEqual([{ id: 'default', url: new URL('https://fn.example/runtime/webhooks/mcp'), scopes: ['api://fn/user_impersonation'] }])
  })

  it('the server process exits 1 with a message naming the variable', () => {
    const result = spawnSync(process.execPath, ['src/server.ts'], { env: { PATH: process.env.PATH, ...base, PORT: 'abc' }, encoding: 'utf8', timeout: 20_000 })
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('PORT must be an integer')
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })
})
