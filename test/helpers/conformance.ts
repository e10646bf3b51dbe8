// The MCP conformance suite (`@modelcontextprotocol/conformance`, server scenarios) run against a server directly
// and through the relay's `/mcp/<server>`, with the reference server `@modelcontextprotocol/server-everything`
// and our conformance fixture. Everything listens on loopback only.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../dev/start-stack.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CONFORMANCE_CLI = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js')
const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js')
const LOOPBACK_ONLY = join(ROOT, 'test/conformance/loopback-only.mjs')

/** The scenarios the relay must pass (issue 11), whatever else it passes. */
export const REQUIRED_SCENARIOS = [
  'server-initialize', 'ping', 'tools-list', 'tools-call-simple-text', 'tools-call-error', 'tools-call-with-progress',
  'tools-call-with-logging', 'tools-call-sampling', 'tools-call-elicitation', 'resources-list', 'resources-read-text',
  'resources-subscribe', 'prompts-list', 'prompts-get-simple', 'server-sse-multiple-streams', 'dns-rebinding-protection',
] as const

export interface ScenarioResult { passed: number, failed: number, ok: boolean, errors: string[] }

export interface Stoppable { url: string, close: () => Promise<void> }

/** Runs the server scenarios (all active ones, or `scenarios`) against `url`; the result of each by name. */
export async function runConformance (url: string, scenarios?: readonly string[]): Promise<Map<string, ScenarioResult>> {
  const outDir = await mkdtemp(join(tmpdir(), 'obo-conformance-'))
  try {
    const runs = scenarios === undefined ? [undefined] : scenarios
    for (const scenario of runs) {
      await new Promise<void>((resolve, reject) => {
        const args = [CONFORMANCE_CLI, 'server', '--url', url, '-o', outDir, ...(scenario === undefined ? [] : ['--scenario', scenario])]
        const child = spawn(process.execPath, args, { cwd: outDir, stdio: ['ignore', 'ignore', 'pipe'] })
        let stderr = ''
        child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
        const timer = setTimeout(() => { child.kill('SIGKILL') }, 240_000)
        child.on('error', reject)
        // Exit code 1 only says some scenario failed: the checks tell which.
        child.on('close', (code) => {
          clearTimeout(timer)
          if (code === 0 || code === 1) resolve()
          else reject(new Error(`conformance CLI exited with ${String(code)}: ${stderr}`))
        })
      })
    }
    const results = new Map<string, ScenarioResult>()
    for (const dir of await readdir(outDir)) {
      const match = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(dir)
      if (match === null) continue
      const checks = JSON.parse(await readFile(join(outDir, dir, 'checks.json'), 'utf8')) as Array<{ status: string, errorMessage?: string }>
      const passed = checks.filter((c) => c.status === 'SUCCESS').length
      const failures = checks.filter((c) => c.status === 'FAILURE')
      results.set(match[1] as string, { passed, failed: failures.length, ok: failures.length === 0 && passed > 0, errors: failures.map((c) => c.errorMessage ?? '') })
    }
    return results
  } finally {
    await rm(outDir, { recursive: true, force: true })
  }
}

/** The reference server, unmodified, as its own launcher starts it (Streamable HTTP), held to 127.0.0.1. */
export async function startEverythingServer (): Promise<Stoppable> {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, ['--import', LOOPBACK_ONLY, EVERYTHING, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  await new Promise<void>((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => reject(new Error(`server-everything did not start: ${output}`)), 30_000)
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('listening on port')) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`server-everything exited with ${String(code)}: ${output}`))
    })
  })
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    },
  }
}

/**
 * The test-side forwarder the issue allows: the conformance client knows no OAuth, so this adds the caller's
 * `Authorization` and otherwise passes requests and answers through as streams. Its own Host and Origin are
 * mapped to the relay's; any other (the DNS-rebinding scenario's `evil.example.com`) goes on unchanged.
 */
export async function startForwarder (target: string, authorization: () => string): Promise<Stoppable> {
  const to = new URL(target)
  let own = ''
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || ['connection', 'keep-alive', 'transfer-encoding', 'authorization'].includes(name)) continue
      headers[name] = value
    }
    if (headers['host'] === own) headers['host'] = to.host
    if (headers['origin'] === `http://${own}`) headers['origin'] = to.origin
    headers['authorization'] = authorization()
    const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: to.pathname, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      res.flushHeaders()
      answer.pipe(res)
    })
    upstream.on('error', () => { if (!res.headersSent) res.writeHead(502).end(); else res.destroy() })
    res.on('close', () => { if (!res.writableFinished) upstream.destroy() })
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  own = `localhost:${port}`
  return {
    url: `http://localhost:${port}/mcp`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
