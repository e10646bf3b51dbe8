// Header value encoding, x-mcp-header rules and the headers of a request, against the spec's own examples.
import { describe, expect, it } from 'vitest'
import {
  createModernRequest, decodeHeaderValue, encodeHeaderValue, invalidToolReason, isLegacyVersion, isModernVersion,
  mcpParamHeadersFor, modernHeadersFor, readHeaderAnnotations, type Tool,
} from '../../../src/mcp/modern/index.ts'
import { metaOf } from './helpers.ts'

describe('header value encoding (streamable-http.mdx § Value Encoding)', () => {
  it.each([
    ['us-west1', 'us-west1'],
    ['Hello, 世界', '=?base64?SGVsbG8sIOS4lueVjA==?='],
    [' padded ', '=?base64?IHBhZGRlZCA=?='],
    ['line1\nline2', '=?base64?bGluZTEKbGluZTI=?='],
    ['=?base64?literal?=', '=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?='],
  ])('encodes %j as the spec table does', (value, header) => {
    expect(encodeHeaderValue(value)).toBe(header)
    expect(decodeHeaderValue(header)).toBe(value)
  })

  it('encodes a tab, which is a control character even though headers may carry it', () => {
    expect(encodeHeaderValue('a\tb')).toBe(`=?base64?${Buffer.from('a\tb').toString('base64')}?=`)
  })

  it('refuses malformed sentinels and characters outside RFC 9110 field values', () => {
    expect(decodeHeaderValue('=?base64?not base64!?=')).toBeUndefined()
    expect(decodeHeaderValue(`=?base64?${Buffer.from([0xff, 0xfe]).toString('base64')}?=`)).toBeUndefined()
    expect(decodeHeaderValue('caf\u00e9')).toBeUndefined()
    expect(decodeHeaderValue('a\u0000b')).toBeUndefined()
  })

  it('markers are case-sensitive: an uppercase sentinel is a plain value', () => {
    expect(decodeHeaderValue('=?BASE64?ZWNobw==?=')).toBe('=?BASE64?ZWNobw==?=')
  })
})

describe('eras of version strings (versioning.mdx § Terminology)', () => {
  it('dates from 2026-07-28 on are modern, earlier ones legacy, undated neither', () => {
    expect(isModernVersion('2026-07-28')).toBe(true)
    expect(isModernVersion('2027-01-01')).toBe(true)
    expect(isLegacyVersion('2025-11-25')).toBe(true)
    expect(isLegacyVersion('2024-11-05')).toBe(true)
    expect(isModernVersion('v999.0.0') || isLegacyVersion('v999.0.0')).toBe(false)
  })
})

const sql: Tool = {
  name: 'execute_sql',
  inputSchema: {
    type: 'object',
    properties: {
      region: { type: 'string', 'x-mcp-header': 'Region' },
      query: { type: 'string' },
      options: { type: 'object', properties: { dryRun: { type: 'boolean', 'x-mcp-header': 'Dry-Run' }, limit: { type: 'integer', 'x-mcp-header': 'Limit' } } },
    },
    required: ['region', 'query'],
  },
}

describe('x-mcp-header (streamable-http.mdx § Schema Extension, § Client Behavior)', () => {
  it('finds annotations reachable through properties, nested objects included', () => {
    expect(readHeaderAnnotations(sql.inputSchema)).toEqual({
      annotations: [
        { name: 'Region', path: ['region'], type: 'string' },
        { name: 'Dry-Run', path: ['options', 'dryRun'], type: 'boolean' },
        { name: 'Limit', path: ['options', 'limit'], type: 'integer' },
      ],
    })
  })

  it('mirrors present values, converted and encoded, and omits absent and null ones', () => {
    expect(mcpParamHeadersFor(sql, { region: 'us-west1', query: 'SELECT 1', options: { dryRun: false, limit: -7 } }))
      .toEqual({ 'Mcp-Param-Region': 'us-west1', 'Mcp-Param-Dry-Run': 'false', 'Mcp-Param-Limit': '-7' })
    expect(mcpParamHeadersFor(sql, { region: 'Zürich', query: 'x', options: { limit: null } }))
      .toEqual({ 'Mcp-Param-Region': `=?base64?${Buffer.from('Zürich').toString('base64')}?=` })
  })

  it('refuses to mirror a value no header can carry', () => {
    expect(() => mcpParamHeadersFor(sql, { region: 'x', query: 'x', options: { limit: 1.5 } })).toThrow(TypeError)
  })

  it.each([
    ['behind items', { type: 'object', properties: { list: { type: 'array', items: { type: 'string', 'x-mcp-header': 'Item' } } } }],
    ['behind oneOf', { type: 'object', oneOf: [{ properties: { a: { type: 'string', 'x-mcp-header': 'A' } } }] }],
    ['behind $defs', { type: 'object', $defs: { a: { type: 'string', 'x-mcp-header': 'A' } } }],
    ['on a number', { type: 'object', properties: { n: { type: 'number', 'x-mcp-header': 'N' } } }],
    ['not a token', { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'A B' } } }],
    ['empty', { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': '' } } }],
    ['duplicated ignoring case', { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'X' }, b: { type: 'string', 'x-mcp-header': 'x' } } }],
    ['on the root', { type: 'object', 'x-mcp-header': 'Root' }],
  ])('makes a tool invalid when %s', (_case, inputSchema) => {
    expect(invalidToolReason({ name: 'bad', inputSchema })).toEqual(expect.any(String))
  })

  it('does not take a property named x-mcp-header for an annotation', () => {
    expect(invalidToolReason({ name: 'ok', inputSchema: { type: 'object', properties: { 'x-mcp-header': { type: 'string' } } } })).toBeUndefined()
  })
})

describe('modernHeadersFor (streamable-http.mdx § Standard Request Headers)', () => {
  it('gives the headers of the spec tools/call example', () => {
    const request = { jsonrpc: '2.0' as const, id: 1, method: 'tools/call', params: { name: 'get_weather', arguments: { location: 'Seattle, WA' }, _meta: metaOf() } }
    expect(modernHeadersFor(request)).toEqual({
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': '2026-07-28',
      'Mcp-Method': 'tools/call',
      'Mcp-Name': 'get_weather',
    })
  })

  it('takes Mcp-Name of resources/read from params.uri, and none for methods that need none', () => {
    const read = { jsonrpc: '2.0' as const, id: 2, method: 'resources/read', params: { uri: 'file:///projects/myapp/config.json', _meta: metaOf() } }
    expect(modernHeadersFor(read)['Mcp-Name']).toBe('file:///projects/myapp/config.json')
    const list = { jsonrpc: '2.0' as const, id: 3, method: 'tools/list', params: { _meta: metaOf() } }
    expect(modernHeadersFor(list)).not.toHaveProperty('Mcp-Name')
  })

  it('adds Mcp-Param-* for the tool given, as the spec execute_sql example', () => {
    const request = { jsonrpc: '2.0' as const, id: 1, method: 'tools/call', params: { _meta: metaOf(), name: 'execute_sql', arguments: { region: 'us-west1', query: 'SELECT * FROM users' } } }
    expect(modernHeadersFor(request, { tool: sql })).toMatchObject({ 'Mcp-Name': 'execute_sql', 'Mcp-Param-Region': 'us-west1' })
  })

  it('refuses a request without the _meta protocol version it mirrors', () => {
    expect(() => modernHeadersFor({ jsonrpc: '2.0', id: 1, method: 'tools/list' })).toThrow(TypeError)
  })

  it('createModernRequest puts the required per-request fields in _meta', () => {
    expect(createModernRequest(7, 'server/discover', {}, { clientInfo: { name: 'c', version: '1' }, progressToken: 'p' })).toEqual({
      jsonrpc: '2.0',
      id: 7,
      method: 'server/discover',
      params: {
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': {},
          'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' },
          progressToken: 'p',
        },
      },
    })
  })
})
