// One request to a hostile server (an unterminated SSE event) crashed a relay run with a 384 MB heap. A relay
// process with a 128 MB heap, at the default 8 MiB byte cap, now serves every hostile case and stays up.
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { HOSTILE_APIS, startHostileStack, type HostileStack } from '../helpers/hostile.ts'
import { relayEnv, startRelayProcess, type RelayProcess } from '../helpers/relay-process.ts'

let h: HostileStack
let relay: RelayProcess

beforeAll(async () => {
  h = await startHostileStack(['bounded'], { pins: { bounded: HOSTILE_APIS.bounded.appIdUri } })
  relay = await startRelayProcess(relayEnv(h.stack, {
    MCP_SERVERS: JSON.stringify([{ id: 'hostile', url: h.hostile.url('bounded'), audience: HOSTILE_APIS.bounded.appIdUri }]),
    DOWNSTREAM_TIMEOUT_MS: '3000',
  }), { nodeArgs: ['--max-old-space-size=128'] })
})
afterAll(async () => {
  await relay?.stop()
  await h?.close()
})

/** Peak resident memory of the relay process (Linux `VmHWM`), in MiB. */
function peakRssMiB (): number {
  const status = readFileSync(`/proc/${relay.pid() ?? 0}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
}

it('serves a 50 MB result, an unterminated SSE event, an endless body and a flood, and stays up', async () => {
  const token = await h.stack.userToken('alice@contoso.test')
  const call = async (tool: string) => await fetch(`${relay.url}/v1/servers/hostile/tools/${tool}`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}',
  })
  expect((await call('ok')).status).toBe(200)
  const answers: Record<string, number> = {}
  for (let round = 0; round < 3; round++) {
    for (const tool of ['big_result', 'unterminated_sse', 'endless_json', 'flood']) {
      answers[tool] = (await call(tool)).status
      expect((await fetch(`${relay.url}/healthz`)).status).toBe(200)
    }
  }
  expect(answers).toEqual({ big_result: 502, unterminated_sse: 502, endless_json: 504, flood: 504 })
  expect(relay.exited()).toBe(false)
  const peak = peakRssMiB()
  process.stdout.write(`relay peak RSS with a 128 MB heap after 12 hostile calls: ${peak.toFixed(1)} MiB\n`)
  expect(peak).toBeLessThan(400)
  expect(relay.output()).not.toMatch(/heap out of memory|FATAL ERROR/)
}, 90_000)
