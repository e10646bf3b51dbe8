// `npm run dev` as a user runs it: spawned as a process, healthy, one tool call end to end, clean stop.
import { spawn, type ChildProcess } from 'node:child_process'
import { readJson } from '../helpers/browser.ts'
import { afterAll, expect, it } from 'vitest'
import { DEV_CLI_CLIENT_ID, DEV_RELAY_SCOPE } from '../../dev/entra-emulator/index.ts'
import { freePort } from '../../dev/start-stack.ts'
import { createDispatcher, createFetch } from '../../src/net/http-client.ts'
import { readFileSync } from 'node:fs'

let child: ChildProcess | undefined
afterAll(() => { child?.kill('SIGKILL') })

it('starts, serves a tool call On-Behalf-Of alice, and stops on SIGINT', async () => {
  const ports = { PORT: await freePort(), EMULATOR_PORT: await freePort(), NOTES_PORT: await freePort(), CALENDAR_PORT: await freePort() }
  child = spawn(process.execPath, ['dev/stack.ts'], {
    env: { ...process.env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk) => { output += String(chunk) })
  child.stderr!.on('data', (chunk) => { output += String(chunk) })
  const deadline = Date.now() + 30_000
  while (!output.includes('Ctrl-C stops everything')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`dev stack did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const relay = `http://localhost:${ports.PORT}`
  expect(output).toContain(relay)
  expect(await readJson(await fetch(`${relay}/healthz`))).toEqual({ status: 'ok' })
  expect((await fetch(`${relay}/readyz`)).status).toBe(200)

  // The printed example, step by step: a token for alice from the emulator, then a tool call through the relay.
  const caFile = /emulator CA\s+(\S+)/.exec(output)![1]!
  const trusting = createFetch(createDispatcher({ trustedCaPem: readFileSync(caFile, 'utf8') }))
  const tokenResponse = await trusting(`https://localhost:${ports.EMULATOR_PORT}/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', client_id: DEV_CLI_CLIENT_ID, username: 'alice@contoso.test', password: 'alice-password', scope: DEV_RELAY_SCOPE }),
  })
  const { access_token: token } = await readJson(tokenResponse) as { access_token: string }
  const call = await fetch(`${relay}/v1/servers/notes/tools/whoami`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"arguments":{}}' })
  expect(call.status).toBe(200)
  expect((await readJson(call)).structuredContent.upn).toBe('alice@contoso.test')

  const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)))
  child.kill('SIGINT')
  expect(await exited).toBe(0)
  // Every port is free again.
  for (const port of Object.values(ports)) {
    await expect(fetch(`http://127.0.0.1:${port}/`).then(() => 'open', () => 'closed')).resolves.toBe('closed')
  }
}, 60_000)
