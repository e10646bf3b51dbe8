import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js'
import { bearerChallenge, createJwksKeySet, readBearerToken, TokenRejectedError, validateAccessToken, type AccessTokenPolicy, type DelegatedClaims } from './auth.ts'
import { createSampleMcp, StepGates, STEP_UP_ACRS, STEP_UP_TOOL, userKeyOf, type Note } from './tools.ts'

export interface SampleMcpOptions {
  name: 'notes' | 'calendar'
  /** Default 9101 for notes, 9102 for calendar; 0 = random. */
  port?: number
  /** Bind address, default '127.0.0.1'; URLs use 'localhost'. */
  host?: string
  /** Origin in the URLs this server publishes (PRM `resource`); default `http://localhost:<port>`. */
  publicOrigin?: string
  /** Accepted `aud` (GUID) … */
  appClientId: string
  /** … or this ('api://notes-mcp'). */
  appIdUri: string
  /** Exact expected `iss`. */
  issuer: string
  jwksUri: string
  tenantId: string
  /** Used for the JWKS (trusts the emulator CA); default global fetch. */
  fetch?: typeof globalThis.fetch
  /** Default 'user_impersonation'. */
  requiredScope?: string
  /** Notes default 'path' (/.well-known/oauth-protected-resource/mcp), calendar default 'root'. */
  prmLocation?: 'path' | 'root'
  /** Serve HTTPS with this key pair (e.g. the emulator's `tls`, trusted through the dev CA); default plain http. */
  tls?: { certPem: string, privateKeyPem: string }
  /** Members replacing those of the PRM document (a server publishing bare scope names, or a hostile one). */
  prmDocument?: Record<string, unknown>
  /** Default 200. */
  slowToolStepMs?: number
  /** When set, `tools/list` pages with `nextCursor`. Default: one page. */
  toolsPageSize?: number
  /** Default 60. */
  clockToleranceSec?: number
  /** pino-compatible; default silent. Never receives tokens. */
  logger?: SampleMcpLogger
  /** Headers added to every MCP answer (tests: a hostile server's `Set-Cookie`, `Location`, CSP…). */
  extraResponseHeaders?: Record<string, string>
}

export interface SampleMcpLogger {
  info: (entry: object, message: string) => void
  warn: (entry: object, message: string) => void
}

export interface SampleMcpServer {
  name: string
  /** `${origin}/mcp` */
  url: string
  origin: string
  prmUrl: string
  /** Open MCP sessions (ended by DELETE or close). */
  sessionCount: () => number
  /** Releases the next step of the `stepped` tool's gate `gate` (also `POST /_control/gates/<gate>/release`). */
  releaseStep: (gate: string) => void
  /** MCP answers whose client closed the connection before the answer was complete (an upstream cancellation). */
  abortedAnswers: () => number
  /** Tells every open session that the tool list changed (`notifications/tools/list_changed`; also `POST /_control/tools-changed`). */
  notifyToolsChanged: () => void
  close: () => Promise<void>
}

export { STEP_UP_ACRS, STEP_UP_TOOL } from './tools.ts'

const DEFAULT_PORTS = { notes: 9101, calendar: 9102 } as const
const PRM_PATH = '/.well-known/oauth-protected-resource'
const MAX_BODY_BYTES = 1024 * 1024
const silentLogger: SampleMcpLogger = { info: () => {}, warn: () => {} }

interface Session { transport: StreamableHTTPServerTransport, mcp: McpServer, userKey: string }

/** A sample Entra-protected MCP server (DESIGN §9): PRM, delegated-token validation, Streamable HTTP sessions bound to their user. */
export async function startSampleMcpServer (options: SampleMcpOptions): Promise<SampleMcpServer> {
  const { name } = options
  const logger = options.logger ?? silentLogger
  const prmLocation = options.prmLocation ?? (name === 'notes' ? 'path' : 'root')
  const keySet = createJwksKeySet(options.jwksUri, options.fetch ?? globalThis.fetch)
  const policy: AccessTokenPolicy = {
    issuer: options.issuer,
    tenantId: options.tenantId,
    audiences: [options.appClientId, options.appIdUri],
    requiredScope: options.requiredScope ?? 'user_impersonation',
    clockToleranceSec: options.clockToleranceSec ?? 60,
  }
  const sessions = new Map<string, Session>()
  const notesByUser = new Map<string, Note[]>()
  const gates = new StepGates()
  let abortedAnswers = 0
  const toolContext = {
    name,
    gates,
    notesByUser,
    slowToolStepMs: options.slowToolStepMs ?? 200,
    ...(options.toolsPageSize !== undefined && { toolsPageSize: options.toolsPageSize }),
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch((err: unknown) => {
      logger.warn({ server: name, err: err instanceof Error ? err.message : String(err) }, 'request failed')
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'internal error' })
      else res.destroy()
    })
  }
  const httpServer = options.tls === undefined ? createServer(handler) : createHttpsServer({ key: options.tls.privateKeyPem, cert: options.tls.certPem }, handler)
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject)
    httpServer.listen(options.port ?? DEFAULT_PORTS[name], options.host ?? '127.0.0.1', () => {
      httpServer.off('error', reject)
      resolve()
    })
  })
  const { port } = httpServer.address() as AddressInfo
  const origin = options.publicOrigin ?? `${options.tls === undefined ? 'http' : 'https'}://localhost:${port}`
  const url = `${origin}/mcp`
  // RFC 9728 §3.1: path insertion between the well-known prefix and the resource path; App Service serves only the root.
  const prmPath = prmLocation === 'path' ? `${PRM_PATH}/mcp` : PRM_PATH
  const prmUrl = `${origin}${prmPath}`
  const protectedResourceMetadata = {
    resource: url,
    authorization_servers: [options.issuer],
    scopes_supported: [`${options.appIdUri}/${policy.requiredScope}`],
    bearer_methods_supported: ['header'],
    resource_name: `Sample ${name} MCP server`,
    ...options.prmDocument,
  }

  async function route (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (path === prmPath && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJson(res, 200, protectedResourceMetadata)
    } else if (path === '/mcp') {
      for (const [header, value] of Object.entries(options.extraResponseHeaders ?? {})) res.setHeader(header, value)
      res.once('close', () => { if (!res.writableFinished) abortedAnswers++ })
      await handleMcp(req, res)
    } else if (req.method === 'POST' && path === '/_control/tools-changed') {
      notifyToolsChanged()
      res.writeHead(204).end()
    } else if (req.method === 'POST' && path !== undefined && /^\/_control\/gates\/[\w-]{1,100}\/release$/.test(path)) {
      gates.release(path.split('/')[3] as string)
      res.writeHead(204).end()
    } else {
      sendJson(res, 404, { error: 'not_found', error_description: 'no such route' })
    }
  }

  async function handleMcp (req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'DELETE') {
      res.setHeader('Allow', 'GET, POST, DELETE')
      sendJsonRpcError(res, 405, -32000, 'Method not allowed')
      return
    }
    const claims = await authenticate(req, res)
    if (claims === undefined) return
    const userKey = userKeyOf(claims)

    let body: unknown
    if (req.method === 'POST') {
      const read = await readJsonBody(req)
      if (read.status !== 200) {
        sendJsonRpcError(res, read.status, read.status === 413 ? -32000 : -32700, read.message)
        return
      }
      body = read.body
      if (callsTool(body, STEP_UP_TOOL) && !claims.acrs.includes(STEP_UP_ACRS)) {
        sendClaimsChallenge(res)
        return
      }
    }

    const auth: AuthInfo = {
      token: readBearerToken(req.headers.authorization) ?? '',
      clientId: claims.azp ?? '',
      scopes: claims.scp,
      expiresAt: claims.exp,
      resource: new URL(url),
      extra: { claims },
    }
    const authedReq = Object.assign(req, { auth })
    const sessionId = req.headers['mcp-session-id']
    if (typeof sessionId === 'string') {
      const session = sessions.get(sessionId)
      // A session belongs to the user who opened it; to anyone else it does not exist.
      if (session === undefined || session.userKey !== userKey) {
        sendJsonRpcError(res, 404, -32001, 'Session not found')
        return
      }
      await session.transport.handleRequest(authedReq, res, body)
      return
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      sendJsonRpcError(res, 400, -32000, 'Bad Request: No valid session ID provided')
      return
    }

    const mcp = createSampleMcp(toolContext)
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, mcp, userKey })
        logger.info({ server: name, tid: claims.tid, oid: claims.oid }, 'session opened')
      },
    })
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId)
    }
    await mcp.connect(transport)
    await transport.handleRequest(authedReq, res, body)
  }

  function notifyToolsChanged (): void {
    for (const { mcp } of sessions.values()) mcp.sendToolListChanged()
  }

  /** The validated claims, or undefined after answering 401/403/503. */
  async function authenticate (req: IncomingMessage, res: ServerResponse): Promise<DelegatedClaims | undefined> {
    const token = readBearerToken(req.headers.authorization)
    if (token === undefined) {
      // RFC 6750 §3.1: no error code when the request carried no credentials.
      res.setHeader('WWW-Authenticate', bearerChallenge({ resource_metadata: prmUrl }))
      sendJsonRpcError(res, 401, -32001, 'Unauthorized: bearer token required')
      return undefined
    }
    try {
      return await validateAccessToken(token, keySet, policy)
    } catch (err) {
      if (!(err instanceof TokenRejectedError)) {
        logger.warn({ server: name, err: err instanceof Error ? err.message : String(err) }, 'cannot validate tokens')
        sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'signing keys unavailable' })
        return undefined
      }
      logger.info({ server: name, status: err.status, reason: err.message }, 'token rejected')
      res.setHeader('WWW-Authenticate', bearerChallenge({
        resource_metadata: prmUrl,
        error: err.error,
        error_description: err.message,
        ...(err.error === 'insufficient_scope' && { scope: protectedResourceMetadata.scopes_supported.join(' ') }),
      }))
      sendJsonRpcError(res, err.status, -32001, err.error === 'insufficient_scope' ? 'Forbidden: insufficient scope' : `Unauthorized: ${err.message}`, {
        error: err.error, error_description: err.message,
      })
      return undefined
    }
  }

  /** Entra-style claims challenge for the authentication context the `stepup` tool needs. */
  function sendClaimsChallenge (res: ServerResponse): void {
    const claimsRequest = { access_token: { acrs: { essential: true, value: STEP_UP_ACRS } } }
    const claims = Buffer.from(JSON.stringify(claimsRequest)).toString('base64url')
    res.setHeader('WWW-Authenticate', bearerChallenge({
      resource_metadata: prmUrl,
      error: 'insufficient_claims',
      error_description: `authentication context ${STEP_UP_ACRS} required`,
      claims,
    }))
    sendJsonRpcError(res, 401, -32001, 'Unauthorized: step-up required', { error: 'insufficient_claims', claims })
  }

  return {
    name,
    url,
    origin,
    prmUrl,
    sessionCount: () => sessions.size,
    releaseStep: (gate) => gates.release(gate),
    abortedAnswers: () => abortedAnswers,
    notifyToolsChanged,
    async close () {
      await Promise.allSettled([...sessions.values()].map(async ({ mcp }) => await mcp.close()))
      sessions.clear()
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve())
        httpServer.closeAllConnections()
      })
    },
  }
}

/** Whether a JSON-RPC message (or batch) calls the tool `toolName`. */
function callsTool (body: unknown, toolName: string): boolean {
  const messages: unknown[] = Array.isArray(body) ? body : [body]
  return messages.some((message) => {
    if (typeof message !== 'object' || message === null) return false
    const { method, params } = message as { method?: unknown, params?: { name?: unknown } }
    return method === 'tools/call' && params?.name === toolName
  })
}

async function readJsonBody (req: IncomingMessage): Promise<{ status: 200, body: unknown } | { status: 400 | 413, message: string }> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES) return { status: 413, message: 'Request body too large' }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) return { status: 413, message: 'Request body too large' }
    chunks.push(chunk)
  }
  try {
    return { status: 200, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }
  } catch {
    return { status: 400, message: 'Parse error: invalid JSON' }
  }
}

function sendJson (res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
  res.end(JSON.stringify(body))
}

function sendJsonRpcError (res: ServerResponse, status: number, code: number, message: string, data?: Record<string, unknown>): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message, ...(data !== undefined && { data }) }, id: null })
}
