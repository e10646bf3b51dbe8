// Bench process: the load generator (autocannon as a library), alone in its process so its CPU is not the
// relay's. `run` drives one target for a bounded time; `burst` fires N requests at once (S4); latencies are
// recorded at sub-millisecond resolution from autocannon's per-response timing.
import { randomUUID } from 'node:crypto'
import autocannon, { type AutocannonRequest } from 'autocannon'
import { SignJWT, importJWK, type JWK } from 'jose'
import { Agent, request } from 'undici'
import { sha256b64url } from '../../src/crypto/hash.ts'
import { ready, serveIpc } from '../lib/ipc-child.ts'

export interface DpopSpec { privateJwk: JWK, publicJwk: JWK, alg: string, accessToken: string, htu: string, htm: string, nonce: string }

export interface RunSpec {
  url: string
  method: string
  headers: Record<string, string>
  body?: string
  connections: number
  durationSec: number
  /** `[<id>]` in the body becomes a unique id per request (JSON-RPC ids on one MCP session). */
  idReplacement?: boolean
  /** A fresh DPoP proof on every request, all made before the run starts. */
  dpop?: DpopSpec & { count: number }
}

export interface RunResult {
  requests: number
  durationSec: number
  rps: number
  p50Ms: number
  p99Ms: number
  meanMs: number
  errors: number
  timeouts: number
  non2xx: number
  statuses: Record<string, number>
}

async function makeProofs (spec: DpopSpec & { count: number }): Promise<string[]> {
  const key = await importJWK(spec.privateJwk, spec.alg)
  const ath = sha256b64url(spec.accessToken)
  const iat = Math.floor(Date.now() / 1000)
  const proofs: string[] = []
  for (let i = 0; i < spec.count; i++) {
    proofs.push(await new SignJWT({ htm: spec.htm, htu: spec.htu, iat, jti: randomUUID(), ath, nonce: spec.nonce })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: spec.alg, jwk: spec.publicJwk })
      .sign(key))
  }
  return proofs
}

async function run (spec: RunSpec): Promise<RunResult> {
  const target = new URL(spec.url)
  const base: AutocannonRequest = { method: spec.method, path: `${target.pathname}${target.search}`, headers: spec.headers, ...(spec.body === undefined ? {} : { body: spec.body }) }
  let requests: AutocannonRequest[] | undefined
  if (spec.dpop !== undefined) {
    const proofs = await makeProofs(spec.dpop)
    let next = 0
    // No proof left: the run would only measure refusals; the count given is sized above what the run can send.
    requests = [{ ...base, setupRequest: (req) => ({ ...req, headers: { ...spec.headers, dpop: proofs[next++ % proofs.length] as string } }) }]
  }
  const latencies: number[] = []
  const instance = autocannon({
    url: target.origin,
    connections: spec.connections,
    pipelining: 1,
    duration: spec.durationSec,
    timeout: 30,
    ...(spec.idReplacement === true ? { idReplacement: true } : {}),
    requests: requests ?? [base],
  })
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => { latencies.push(responseTimeMs) })
  const result = await instance
  latencies.sort((a, b) => a - b)
  const at = (q: number): number => latencies.length === 0 ? Number.NaN : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number
  const total = latencies.length
  const statuses: Record<string, number> = {}
  for (const [status, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[status] = Number(count)
  return {
    requests: total,
    durationSec: result.duration,
    rps: total / result.duration,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    meanMs: latencies.reduce((sum, v) => sum + v, 0) / Math.max(1, total),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statuses,
  }
}

export interface BurstSpec { requests: Array<{ url: string, method: string, headers: Record<string, string>, body?: string }> }

/** Every request sent at once, each on its own connection; the statuses and the first bytes of each answer. */
async function burst (spec: BurstSpec): Promise<Array<{ status: number, body: string }>> {
  const agent = new Agent({ connections: spec.requests.length + 10, keepAliveTimeout: 1_000 })
  try {
    return await Promise.all(spec.requests.map(async (r) => {
      const answer = await request(r.url, { method: r.method as 'POST', headers: r.headers, body: r.body ?? null, dispatcher: agent, headersTimeout: 60_000, bodyTimeout: 60_000 })
      return { status: answer.statusCode, body: (await answer.body.text()).slice(0, 500) }
    }))
  } finally {
    await agent.close()
  }
}

serveIpc({ run, burst })
ready()
