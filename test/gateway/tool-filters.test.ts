// TOOL_FILTERS hold on all three surfaces (/v1, /mcp/:server, /mcp), and per identity: groups, app roles, and a
// group overage that fails closed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TokenMemo, userAssertionOf, type UserAssertion } from '../../src/caller/user-assertion.ts'
import { ToolFilter } from '../../src/gateway/tool-filter.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { connectSdk, jsonOf } from '../helpers/mcp-clients.ts'

const FILTERS = [
  { server: 'notes', tools: ['create_*'], effect: 'deny' },
  // Only holders of an app role alice does not have may see calendar's whoami.
  { server: 'calendar', tools: ['whoami'], effect: 'allow', roles: ['Calendar.Reader'] },
  { server: 'calendar', tools: ['whoami'], effect: 'deny' },
]

let stack: TestStack
let alice: string

beforeAll(async () => {
  stack = await startTestStack({ relayEnv: { TOOL_FILTERS: JSON.stringify(FILTERS) } })
  alice = await stack.userToken('alice@contoso.test')
})
afterAll(async () => { await stack?.close() })

describe('tool filters on every surface', () => {
  it('/v1 hides and refuses the filtered tools', async () => {
    const notes = await stack.call('/v1/servers/notes/tools', { token: alice })
    expect(notes.body.tools.map((t: { name: string }) => t.name)).not.toContain('create_note')
    expect(notes.body.tools.map((t: { name: string }) => t.name)).toContain('list_notes')
    const refused = await stack.call('/v1/servers/notes/tools/create_note', { method: 'POST', token: alice, body: JSON.stringify({ arguments: { title: 't', body: 'b' } }) })
    expect(refused.status).toBe(403)
    expect(refused.body).toMatchObject({ reason: 'tool_not_allowed' })
    expect((await stack.call('/v1/servers/calendar/tools/whoami', { method: 'POST', token: alice, body: '{}' })).status).toBe(403)
  })

  it('/mcp/:server filters tools/list answers and refuses the calls', async () => {
    const { client, transport, close } = await connectSdk(`${stack.relayUrl}/mcp/notes`, alice)
    try {
      const names = (await client.listTools()).tools.map((t) => t.name)
      expect(names).toContain('whoami')
      expect(names).not.toContain('create_note')
      await expect(client.callTool({ name: 'create_note', arguments: { title: 't', body: 'b' } })).rejects.toThrow()
      const raw = await fetch(`${stack.relayUrl}/mcp/notes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId as string, 'mcp-protocol-version': '2025-11-25' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'create_note', arguments: { title: 't', body: 'b' } } }),
      })
      expect(raw.status).toBe(403)
      expect(await jsonOf(raw)).toMatchObject({ id: 8, error: { data: { reason: 'tool_not_allowed' } } })
      // A legacy request's Mcp-Method header is not checked against its body, so it counts for nothing: a
      // tools/list labelled "ping" is still filtered.
      const labelled = await fetch(`${stack.relayUrl}/mcp/notes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId as string, 'mcp-protocol-version': '2025-11-25', 'mcp-method': 'ping' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: {} }),
      })
      expect(labelled.status).toBe(200)
      const text = await labelled.text()
      expect(text).toContain('list_notes')
      expect(text).not.toContain('create_note')
    } finally {
      await close()
    }
  })

  it('/mcp leaves them out and answers their calls as unknown tools', async () => {
    const { client, close } = await connectSdk(`${stack.relayUrl}/mcp`, alice)
    try {
      const names = (await client.listTools()).tools.map((t) => t.name)
      expect(names).toContain('notes__list_notes')
      expect(names).not.toContain('notes__create_note')
      expect(names).not.toContain('calendar__whoami')
      expect(names).toContain('calendar__list_events')
      await expect(client.callTool({ name: 'notes__create_note', arguments: { title: 't', body: 'b' } })).rejects.toThrow(/Unknown tool/)
    } finally {
      await close()
    }
  })
})

/** A user whose relay token carries these claims (the filter reads a token the caller chain already validated). */
function userWith (claims: Record<string, unknown>): UserAssertion {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return userAssertionOf({ tid: 't', oid: 'o', upn: undefined, name: undefined }, 'entra_bearer', new TokenMemo(`${part({ alg: 'RS256' })}.${part(claims)}.sig`, 0))
}

describe('ToolFilter per identity', () => {
  const filter = new ToolFilter([
    { server: 'notes', tools: ['admin_*'], effect: 'allow', groups: ['g-admins'] },
    { server: 'notes', tools: ['admin_*'], effect: 'deny' },
    { server: '*', tools: ['export'], effect: 'deny', groups: ['g-contractors'] },
    { server: 'notes', tools: ['delete'], effect: 'allow', roles: ['Notes.Owner'] },
    { server: 'notes', tools: ['delete'], effect: 'deny' },
  ])

  it('allows by group and by app role, denies the rest', () => {
    expect(filter.allows(userWith({ groups: ['g-admins'] }), 'notes', 'admin_reset')).toBe(true)
    expect(filter.allows(userWith({ groups: ['g-users'] }), 'notes', 'admin_reset')).toBe(false)
    expect(filter.allows(userWith({ roles: ['Notes.Owner'] }), 'notes', 'delete')).toBe(true)
    expect(filter.allows(userWith({}), 'notes', 'delete')).toBe(false)
    expect(filter.allows(userWith({ groups: ['g-contractors'] }), 'calendar', 'export')).toBe(false)
    expect(filter.allows(userWith({}), 'calendar', 'export')).toBe(true)
    expect(filter.forServer(userWith({}), 'other')?.('anything')).toBe(true)
  })

  it('fails closed on a group overage: no allow by group, every deny by group applies', () => {
    const overage = userWith({ _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: 'https://graph.microsoft.com/v1.0/users/o/getMemberObjects' } } })
    expect(filter.allows(overage, 'notes', 'admin_reset')).toBe(false)
    expect(filter.allows(overage, 'calendar', 'export')).toBe(false)
    // Rules that do not depend on groups still decide as usual.
    expect(filter.allows(overage, 'notes', 'list_notes')).toBe(true)
    expect(filter.allows(userWith({ hasgroups: true }), 'calendar', 'export')).toBe(false)
  })
})
