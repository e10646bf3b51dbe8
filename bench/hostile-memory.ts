// Peak RSS of a relay process while a hostile MCP server sends it a 50 MB result, an unterminated SSE event
// and an endless body (issue "a downstream server must never exhaust the relay"). Every server runs in its
// own process or, for the emulator and the fixture, in this one; all on loopback; everything stops at the end.
//   node bench/hostile-memory.ts [--relay-dir DIR] [--heap-mb N] [--rounds N]
// --relay-dir runs another checkout's relay (e.g. an older commit) against the same emulator and fixture.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { HOSTILE_APIS, startHostileStack } from '../test/helpers/hostile.ts'
import { relayEnv, startRelayProcess } from '../test/helpers/relay-process.ts'

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : process.argv[i + 1] ?? fallback
}
const relayDir = resolve(arg('relay-dir', '.'))
const heapMb = Number(arg('heap-mb', '0'))
const rounds = Number(arg('rounds', '2'))

const h = await startHostileStack(['bounded'], { pins: { bounded: HOSTILE_APIS.bounded.appIdUri }, logLevel: 'silent' })
// Started outside the try: a relay that cannot start has nothing to measure (the error says why).
const relay = await startRelayProcess(relayEnv(h.stack, {
  MCP_SERVERS: JSON.stringify([{ id: 'hostile', url: h.hostile.url('bounded'), audience: HOSTILE_APIS.bounded.appIdUri }]),
  DOWNSTREAM_TIMEOUT_MS: '5000',
  LOG_LEVEL: 'silent',
}), { cwd: relayDir, nodeArgs: heapMb > 0 ? [`--max-old-space-size=${heapMb}`] : [] }).catch(async (err: unknown) => {
  await h.close()
  throw err
})
const relayUrl = relay.url
const rss = (field: 'VmHWM' | 'VmRSS'): number => {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${relay.pid() ?? 0}/status`, 'utf8'))?.[1] ?? 0) / 1024
  } catch {
    return Number.NaN
  }
}

try {
  const token = await h.stack.userToken('alice@contoso.test')
  const call = async (tool: string): Promise<string> => {
    const started = Date.now()
    try {
      const res = await fetch(`${relayUrl}/v1/servers/hostile/tools/${tool}`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(20_000),
      })
      const body = await res.text()
      return `HTTP ${res.status}, ${body.length} bytes, ${Date.now() - started} ms`
    } catch (err) {
      return `failed: ${(err as Error).name} after ${Date.now() - started} ms`
    }
  }
  await call('ok')
  const idle = rss('VmRSS')
  process.stdout.write(`relay ${relayDir}${heapMb > 0 ? ` --max-old-space-size=${heapMb}` : ''}: RSS ${idle.toFixed(0)} MiB after one call\n`)
  for (let round = 1; round <= rounds; round++) {
    for (const tool of ['big_result', 'unterminated_sse', 'endless_json']) {
      const outcome = await call(tool)
      const alive = !relay.exited()
      process.stdout.write(`  round ${round} ${tool.padEnd(17)} ${outcome.padEnd(40)} peak RSS ${rss('VmHWM').toFixed(0)} MiB${alive ? '' : ' — relay exited'}\n`)
      if (!alive) break
    }
    if (relay.exited()) break
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  const crashed = relay.exited() || Number.isNaN(rss('VmHWM'))
  process.stdout.write(`${crashed ? 'relay crashed' : `relay alive; peak RSS ${rss('VmHWM').toFixed(0)} MiB`}${/heap out of memory/.test(relay.output()) ? ' (JavaScript heap out of memory)' : ''}\n`)
} finally {
  await relay.kill()
  await h.close()
}
