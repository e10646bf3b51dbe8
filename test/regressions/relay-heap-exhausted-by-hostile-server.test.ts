// One request to a hostile server (an unterminated SSE event) crashed a relay run with a 384 MB heap. A relay
// process with a 128 MB heap, at the default 8 MiB byte cap, now serves every hostile case and stays up.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { DEV_RELAY_CLIENT_ID, DEV_RELAY_CLIENT_SECRET, DEV_RELAY_SCOPE } from '../../dev/entra-emulator/index.ts'
import { freePort } from '../../dev/start-stack.ts'
import { HOSTILE_APIS, startHostileStack, type HostileStack } from '../helpers/hostile.ts'

let h: HostileStack
let relay: ChildProcess
let relayUrl: string
let stderr = ''

beforeAll(async () => {
  h = await startHostileStack(['bounded'], { pins: { bounded: HOSTILE_APIS.bounded.appIdUri } })
  const port = await freePort()
  relayUrl = `http://localhost:${port}`
  relay = spawn(process.execPath, ['--max-old-space-size=128', 'src/server.ts'], {
    env: {
      PATH: process.env.PATH,
      TENANT_ID: h.stack.emulator.tenantId,
      CLIENT_ID: DEV_RELAY_CLIENT_ID,
      CLIENT_SECRET: DEV_RELAY_CLIENT_SECRET,
      SCOPE: DEV_RELAY_SCOPE,
      PORT: String(port),
      HOST: '127.0.0.1',
      // No metrics listener: its fixed default port would collide with a running `npm run dev`.
      METRICS_PORT: '-1',
      AUTHORITY_HOST: h.stack.emulator.url,
      TRUSTED_CA_FILE: h.stack.emulator.caFile,
      MCP_SERVERS: JSON.stringify([{ id: 'hostile', url: h.hostile.url('bounded'), audience: HOSTILE_APIS.bounded.appIdUri }]),
      ALLOW_INSECURE_LOOPBACK: 'true',
      DOWNSTREAM_TIMEOUT_MS: '3000',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  relay.stderr?.on('data', (chunk: Buffer) => { stderr += String(chunk) })
  const deadline = Date.now() + 15_000
  for (;;) {
    const ready = await fetch(`${relayUrl}/healthz`).then((r) => r.ok, () => false)
    if (ready) break
    if (Date.now() > deadline || relay.exitCode !== null) throw new Error(`relay did not start: ${stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
})
afterAll(async () => {
  relay?.kill('SIGTERM')
  await h?.close()
})

/** Peak resident memory of the relay process (Linux `VmHWM`), in MiB. */
function peakRssMiB (): number {
  const status = readFileSync(`/proc/${relay.pid ?? 0}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
}

it('serves a 50 MB result, an unterminated SSE event, an endless body and a flood, and stays up', async () => {
  const token = await h.stack.userToken('alice@contoso.test')
  const call = async (tool: string) => await fetch(`${relayUrl}/v1/servers/hostile/tools/${tool}`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}',
  })
  expect((await call('ok')).status).toBe(200)
  const answers: Record<string, number> = {}
  for (let round = 0; round < 3; round++) {
    for (const tool of ['big_result', 'unterminated_sse', 'endless_json', 'flood']) {
      answers[tool] = (await call(tool)).status
      expect((await fetch(`${relayUrl}/healthz`)).status).toBe(200)
    }
  }
  expect(answers).toEqual({ big_result: 502, unterminated_sse: 502, endless_json: 504, flood: 504 })
  expect(relay.exitCode).toBeNull()
  const peak = peakRssMiB()
  process.stdout.write(`relay peak RSS with a 128 MB heap after 12 hostile calls: ${peak.toFixed(1)} MiB\n`)
  expect(peak).toBeLessThan(400)
  expect(stderr).not.toMatch(/heap out of memory|FATAL ERROR/)
}, 90_000)
