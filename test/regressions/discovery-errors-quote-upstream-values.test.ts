// Discovery errors quoted values from the server's document (its `resource`, issuers, scopes) into the
// caller's error and /v1/servers: a hostile document could put any text there.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => {
  stack = await startTestStack({ notesOptions: { prmDocument: { resource: 'https://evil.example/<script>alert(1)</script>', authorization_servers: ['https://evil.example/INJECTED'], scopes_supported: ['INJECTED-SCOPE'] } } })
})
afterAll(async () => { await stack?.close() })

it('the error names the field that failed, never its value', async () => {
  const token = await stack.userToken('alice@contoso.test')
  const res = await stack.call('/v1/servers/notes/tools/whoami', { method: 'POST', token, body: '{}' })
  expect(res.status).toBe(502)
  expect(res.body.reason).toBe('discovery_failed')
  expect(res.body.error_description).toContain('"resource"')
  const servers = JSON.stringify((await stack.call('/v1/servers', { token })).body)
  for (const text of [JSON.stringify(res.body), servers]) {
    expect(text).not.toContain('<script>')
    expect(text).not.toContain('alert(1)')
    expect(text).not.toContain('INJECTED')
    expect(text).not.toContain('evil.example')
  }
})
