// validateModernRequest: every rejection the spec defines, with its code, status and data.
import { describe, expect, it } from 'vitest'
import { validateModernRequest, type Tool } from '../../../src/mcp/modern/index.ts'
import { metaOf } from './helpers.ts'

const headersFor = (method: string, extra: Record<string, string> = {}): Record<string, string> => ({
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': method,
  ...extra,
})
const call = (params: Record<string, unknown>, id: number | string = 1): Record<string, unknown> =>
  ({ jsonrpc: '2.0', id, method: 'tools/call', params: { _meta: metaOf(), ...params } })
const region: Tool = { name: 'echo', inputSchema: { type: 'object', properties: { region: { type: 'string', 'x-mcp-header': 'Region' }, limit: { type: 'integer', 'x-mcp-header': 'Limit' } } } }
const toolFor = (name: string): Tool | undefined => (name === 'echo' ? region : undefined)

function rejection (headers: Record<string, string>, body: unknown): { status: number, code: number, data: unknown, id: unknown } {
  const validation = validateModernRequest(headers, body, { toolFor })
  if (validation.ok) throw new Error('expected a rejection')
  return { status: validation.status, code: validation.error.error.code, data: validation.error.error.data, id: validation.error.id }
}

describe('validateModernRequest', () => {
  it('accepts the spec tools/call example and returns the request and its version', () => {
    const validation = validateModernRequest(headersFor('tools/call', { 'mcp-name': 'get_weather' }), call({ name: 'get_weather', arguments: { location: 'Seattle, WA' } }))
    expect(validation).toMatchObject({ ok: true, kind: 'request', protocolVersion: '2026-07-28', request: { id: 1, method: 'tools/call' } })
  })

  it('passes notifications, which have no header rules in 2026-07-28', () => {
    expect(validateModernRequest({}, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } })).toMatchObject({ ok: true, kind: 'notification' })
  })

  it.each([
    ['a batch', [call({ name: 'x' })]],
    ['a JSON-RPC response', { jsonrpc: '2.0', id: 1, result: {} }],
    ['a null id', { jsonrpc: '2.0', id: null, method: 'tools/list', params: { _meta: metaOf() } }],
    ['a wrong jsonrpc', { jsonrpc: '1.0', id: 1, method: 'tools/list' }],
  ])('refuses %s with -32600 and 400', (_case, body) => {
    expect(rejection(headersFor('tools/list'), body)).toMatchObject({ status: 400, code: -32600 })
  })

  it('-32020 when MCP-Protocol-Version is missing; for initialize the error names the supported versions', () => {
    expect(rejection({ 'mcp-method': 'tools/list' }, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: metaOf() } })).toMatchObject({ status: 400, code: -32020, id: 1 })
    const initialize = validateModernRequest({}, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'l', version: '1' } } })
    expect(initialize).toMatchObject({ ok: false, status: 400, error: { id: 0, error: { code: -32020, data: { supported: ['2026-07-28'] } } } })
    expect(initialize.ok ? '' : initialize.error.error.message).toContain('2026-07-28')
  })

  it.each([
    ['no _meta', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }],
    ['no params', { jsonrpc: '2.0', id: 1, method: 'tools/list' }],
    ['no clientCapabilities', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } }],
    ['a clientInfo without version', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { ...metaOf(), 'io.modelcontextprotocol/clientInfo': { name: 'x' } } } }],
    ['an unknown logLevel', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { ...metaOf(), 'io.modelcontextprotocol/logLevel': 'loud' } } }],
    ['an object progressToken', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { ...metaOf(), progressToken: {} } } }],
  ])('-32602 and 400 for %s (basic/index.mdx § _meta)', (_case, body) => {
    expect(rejection(headersFor('tools/list'), body)).toMatchObject({ status: 400, code: -32602, id: 1 })
  })

  it('accepts a request without clientInfo (a SHOULD, not a MUST)', () => {
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} }
    expect(validateModernRequest(headersFor('tools/list'), { jsonrpc: '2.0', id: 'a', method: 'tools/list', params: { _meta: meta } }).ok).toBe(true)
  })

  it('-32020 when the header and _meta versions differ', () => {
    expect(rejection({ ...headersFor('tools/list'), 'mcp-protocol-version': '2025-11-25' }, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: metaOf() } }))
      .toMatchObject({ status: 400, code: -32020 })
  })

  it('-32022 with { supported, requested } for a version the server does not speak', () => {
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: metaOf('1900-01-01') } }
    expect(rejection({ ...headersFor('tools/list'), 'mcp-protocol-version': '1900-01-01' }, body))
      .toEqual({ status: 400, code: -32022, id: 1, data: { supported: ['2026-07-28'], requested: '1900-01-01' } })
  })

  it('-32020 for a missing or different Mcp-Method; values are case-sensitive', () => {
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: metaOf() } }
    expect(rejection({ 'mcp-protocol-version': '2026-07-28' }, body)).toMatchObject({ code: -32020 })
    expect(rejection(headersFor('prompts/list'), body)).toMatchObject({ code: -32020 })
    expect(rejection(headersFor('Tools/List'), body)).toMatchObject({ code: -32020 })
  })

  it('-32020 for a missing, different or malformed Mcp-Name; Base64 is decoded first', () => {
    const body = call({ name: 'bar' })
    expect(rejection(headersFor('tools/call'), body)).toMatchObject({ code: -32020 })
    expect(rejection(headersFor('tools/call', { 'mcp-name': 'foo' }), body)).toMatchObject({ code: -32020 })
    expect(rejection(headersFor('tools/call', { 'mcp-name': '=?base64?***?=' }), body)).toMatchObject({ code: -32020 })
    expect(validateModernRequest(headersFor('tools/call', { 'mcp-name': '=?base64?YmFy?=' }), body).ok).toBe(true)
  })

  it('-32602 when the field Mcp-Name mirrors is not a string', () => {
    expect(rejection(headersFor('resources/read', { 'mcp-name': 'x' }), { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { _meta: metaOf() } })).toMatchObject({ code: -32602 })
  })

  it('checks Mcp-Param-* of a known tool: required when the value is present, equal after decoding, integers numerically', () => {
    const headers = headersFor('tools/call', { 'mcp-name': 'echo' })
    expect(rejection(headers, call({ name: 'echo', arguments: { region: 'us-west1' } }))).toMatchObject({ code: -32020 })
    expect(rejection({ ...headers, 'mcp-param-region': 'eu-west1' }, call({ name: 'echo', arguments: { region: 'us-west1' } }))).toMatchObject({ code: -32020 })
    expect(rejection({ ...headers, 'mcp-param-region': 'caf\u00e9' }, call({ name: 'echo', arguments: { region: 'café' } }))).toMatchObject({ code: -32020 })
    expect(validateModernRequest({ ...headers, 'mcp-param-region': '=?base64?Y2Fmw6k=?=' }, call({ name: 'echo', arguments: { region: 'café' } }), { toolFor }).ok).toBe(true)
    expect(validateModernRequest({ ...headers, 'mcp-param-limit': '42.0' }, call({ name: 'echo', arguments: { limit: 42 } }), { toolFor }).ok).toBe(true)
    expect(validateModernRequest(headers, call({ name: 'echo', arguments: { region: null } }), { toolFor }).ok).toBe(true)
    expect(validateModernRequest({ ...headers, 'mcp-param-unknown': 'x' }, call({ name: 'echo', arguments: {} }), { toolFor }).ok).toBe(true)
  })
})
