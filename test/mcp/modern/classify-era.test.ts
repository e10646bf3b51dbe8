// classifyEra against requests as each era's clients send them (versioning.mdx § Backward Compatibility…).
import { describe, expect, it } from 'vitest'
import { classifyEra } from '../../../src/mcp/modern/index.ts'
import { metaOf } from './helpers.ts'

const modernCall = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {}, _meta: metaOf() } }
const legacyInitialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'legacy', version: '1' } } }
const legacyCall = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: {} } }

describe('classifyEra', () => {
  it.each([
    ['a modern tools/call', { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' }, modernCall, 'modern', 'meta-protocol-version'],
    ['modern _meta beside a stray session id (ignored)', { 'mcp-session-id': 'abc' }, modernCall, 'modern', 'meta-protocol-version'],
    ['a legacy initialize (no version header yet)', {}, legacyInitialize, 'legacy', 'initialize'],
    ['a legacy call in a session', { 'mcp-session-id': 'abc', 'mcp-protocol-version': '2025-11-25' }, legacyCall, 'legacy', 'session-id'],
    ['notifications/initialized', { 'mcp-session-id': 'abc' }, { jsonrpc: '2.0', method: 'notifications/initialized' }, 'legacy', 'session-id'],
    ['a client answering a server request', { 'mcp-protocol-version': '2025-11-25' }, { jsonrpc: '2.0', id: 5, result: {} }, 'legacy', 'client-response'],
    ['a stateless legacy call', { 'mcp-protocol-version': '2025-06-18' }, legacyCall, 'legacy', 'legacy-protocol-version'],
    ['a modern header without _meta (answered -32602 the modern way)', { 'mcp-protocol-version': '2026-07-28' }, legacyCall, 'modern', 'modern-protocol-version'],
    ['an unknown version (answered -32022 the modern way)', { 'mcp-protocol-version': 'v999.0.0' }, legacyCall, 'modern', 'modern-protocol-version'],
    ['no version anywhere (a 2025-03-26 client)', {}, legacyCall, 'legacy', 'no-protocol-version'],
    ['a batch', {}, [legacyCall], 'legacy', 'batch'],
    ['GET or DELETE (no body)', { 'mcp-session-id': 'abc' }, undefined, 'legacy', 'no-body'],
  ])('%s', (_case, headers, body, era, reason) => {
    expect(classifyEra(headers, body)).toEqual({ era, reason })
  })

  it('reads a WHATWG Headers as well as Node headers', () => {
    expect(classifyEra(new Headers({ 'Mcp-Session-Id': 'abc' }), legacyCall)).toEqual({ era: 'legacy', reason: 'session-id' })
    expect(classifyEra(new Headers({ 'MCP-Protocol-Version': '2026-07-28' }), legacyCall).era).toBe('modern')
  })
})
