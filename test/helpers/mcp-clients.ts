// Clients we did not write, pointed at the relay: the official SDK client, and hand-written modern requests.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { DEV_RELAY_CLIENT_ID } from '../../dev/entra-emulator/index.ts'
import { createJwksKeySet, validateAccessToken } from '../../dev/sample-mcp/auth.ts'
import { startModernMcpServer, type ModernMcpServer } from '../fixtures/modern-mcp-server.ts'
import type { TestStack } from './stack.ts'

export interface SdkConnection {
  client: Client
  transport: StreamableHTTPClientTransport
  close: () => Promise<void>
}

/** The official SDK client over Streamable HTTP with the caller's bearer token. */
export async function connectSdk (url: string, token: string, options: { capabilities?: Record<string, unknown>, headers?: Record<string, string> } = {}): Promise<SdkConnection> {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}`, ...options.headers } } })
  const client = new Client({ name: 'gateway-test', version: '1.0.0' }, { capabilities: options.capabilities ?? {} })
  await client.connect(transport)
  return { client, transport, close: async () => { await client.close() } }
}

/** The structured content of a tool result, or its first text parsed as JSON. */
export function structured (result: unknown): Record<string, unknown> {
  const r = result as { structuredContent?: Record<string, unknown>, content?: Array<{ type: string, text?: string }> }
  if (r.structuredContent !== undefined) return r.structuredContent
  const text = r.content?.find((c) => c.type === 'text')?.text ?? '{}'
  return JSON.parse(text) as Record<string, unknown>
}

/**
 * An app registration for an extra API in the stack's emulator, pre-authorized for the relay, so the relay gets
 * OBO tokens for `<appIdUri>/user_impersonation` without consent.
 */
export function registerMcpApp (stack: TestStack, clientId: string, appIdUri: string): string {
  stack.emulator.registry.addApp({
    clientId,
    displayName: `${appIdUri} (test)`,
    appIdUri,
    exposedScopes: ['user_impersonation'],
    preAuthorizedClients: [{ clientId: DEV_RELAY_CLIENT_ID, scopes: ['user_impersonation'] }],
    accessTokenAcceptedVersion: 2,
  })
  return `${appIdUri}/user_impersonation`
}

/** The modern-only fixture server, validating the delegated tokens the relay obtains for `appIdUri`. */
export interface ModernFixture {
  server: ModernMcpServer
  /** Call once the stack runs (the validator needs the emulator's keys). */
  trust: (stack: TestStack, clientId: string, appIdUri: string) => void
}

export async function startModernFixture (options: { onCancelled?: () => void } = {}): Promise<ModernFixture> {
  let validate: ((token: string) => Promise<{ oid: string, upn?: string }>) | undefined
  const server = await startModernMcpServer({
    validateToken: async (token) => {
      if (validate === undefined) throw new Error('fixture not trusted yet')
      return await validate(token)
    },
    ...(options.onCancelled !== undefined && { onCancelled: options.onCancelled }),
  })
  return {
    server,
    trust: (stack, clientId, appIdUri) => {
      const keySet = createJwksKeySet(stack.emulator.jwksUri, stack.fetch)
      const policy = { issuer: stack.emulator.issuer, tenantId: stack.emulator.tenantId, audiences: [clientId, appIdUri], requiredScope: 'user_impersonation', clockToleranceSec: 60 }
      validate = async (token) => {
        const claims = await validateAccessToken(token, keySet, policy)
        return { oid: claims.oid, ...(claims.upn !== undefined && { upn: claims.upn }) }
      }
    },
  }
}

/** A hand-written 2026-07-28 request: every header the spec requires, mirrored from the body. */
export async function modernPost (url: string, token: string, method: string, params: Record<string, unknown> = {}, options: { id?: number | string, headers?: Record<string, string>, capabilities?: Record<string, unknown>, progressToken?: string, signal?: AbortSignal } = {}): Promise<Response> {
  const meta: Record<string, unknown> = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': options.capabilities ?? {},
    'io.modelcontextprotocol/clientInfo': { name: 'hand-written', version: '1.0.0' },
    ...(options.progressToken !== undefined && { progressToken: options.progressToken }),
  }
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
  }
  if (method === 'tools/call' || method === 'prompts/get') headers['mcp-name'] = String(params['name'])
  if (method === 'resources/read') headers['mcp-name'] = String(params['uri'])
  return await fetch(url, {
    method: 'POST',
    headers: { ...headers, ...options.headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: options.id ?? 1, method, params: { ...params, _meta: meta } }),
    ...(options.signal !== undefined && { signal: options.signal }),
  })
}

/** The JSON-RPC messages of an answer, JSON or SSE. */
export async function messagesOf (response: Response): Promise<Array<Record<string, any>>> {
  const text = await response.text()
  if ((response.headers.get('content-type') ?? '').includes('text/event-stream')) {
    return text.split(/\r?\n\r?\n/).flatMap((event) => {
      const data = event.split(/\r?\n/).filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart()).join('\n')
      return data === '' ? [] : [JSON.parse(data) as Record<string, any>]
    })
  }
  return text === '' ? [] : [JSON.parse(text) as Record<string, any>]
}

/** A JSON body, loosely typed for assertions. */
export async function jsonOf (response: Response): Promise<any> {
  return await response.json()
}
