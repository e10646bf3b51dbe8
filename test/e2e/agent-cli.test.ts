// obo-relay-agent spawned as a process: login (a scripted browser follows the URL it prints), a tool call,
// refresh, concurrent refreshes across processes, the 0600 credentials file, exit codes, logout.
import { spawn } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXIT_CODES } from '../../cli/client/index.ts'
import { authorizeInBrowser, enterDeviceCode } from '../helpers/agent.ts'
import { HttpBrowser } from '../helpers/browser.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const CLI = join(import.meta.dirname, '../../cli/obo-relay-agent.ts')
let stack: TestStack
let configHome: string
let alice: { oid: string }

beforeAll(async () => {
  stack = await startTestStack()
  alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
  configHome = await mkdtemp(join(tmpdir(), 'obo-cli-'))
})
afterAll(async () => {
  await stack?.close()
  await rm(configHome, { recursive: true, force: true })
})

interface Run { code: number | null, stdout: string, stderr: string }

/** Runs the CLI; `onStderr` sees each stderr chunk as it arrives (the login URL). */
async function cli (args: string[], onStderr?: (text: string) => void): Promise<Run> {
  const child = spawn(process.execPath, [CLI, '--relay', stack.relayUrl, ...args], {
    env: { PATH: process.env.PATH, HOME: configHome, XDG_CONFIG_HOME: configHome },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
    onStderr?.(stderr)
  })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stdout, stderr }
}

const credentialsFile = () => join(configHome, 'obo-relay-agent', `${new URL(stack.relayUrl).host.replace(/[^\w.-]/g, '_')}.json`)

/** `login`, with a browser that follows the printed URL through consent and the Entra sign-in. */
async function login (): Promise<Run> {
  let driving: Promise<void> | undefined
  const run = await cli(['login', '--json'], (text) => {
    const url = /(http:\/\/localhost:\d+\/oauth\/authorize\?\S+)/.exec(text)?.[1]
    if (url === undefined || driving !== undefined) return
    driving = (async () => {
      const browser = new HttpBrowser(stack.fetch)
      const consent = await authorizeInBrowser(stack, browser, url, 'alice@contoso.test')
      expect(consent.consentPage).toContain('obo-relay-agent')
      expect(consent.finalUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/)
      await browser.request(consent.finalUrl)
    })()
  })
  await driving
  return run
}

describe('obo-relay-agent', () => {
  it('login → call → refresh → logout, with its credentials 0600 in a 0700 directory', async () => {
    const loggedIn = await login()
    expect(loggedIn.stderr).toContain('Open this URL to sign in')
    expect(loggedIn.code).toBe(0)
    expect(JSON.parse(loggedIn.stdout)).toMatchObject({ status: 'logged_in', user: { oid: alice.oid, upn: 'alice@contoso.test' } })
    expect((await stat(credentialsFile())).mode & 0o777).toBe(0o600)
    expect((await stat(join(configHome, 'obo-relay-agent'))).mode & 0o777).toBe(0o700)
    const saved = JSON.parse(await readFile(credentialsFile(), 'utf8'))
    // Two keys: one authenticates the client (private_key_jwt), the other binds the tokens (DPoP).
    expect(saved.clientKey.d).toBeTruthy()
    expect(saved.dpopKey.d).toBeTruthy()
    expect(saved.clientKey.x).not.toBe(saved.dpopKey.x)

    const called = await cli(['call', 'notes', 'whoami', '--args', '{}', '--json'])
    expect(called.code).toBe(0)
    expect(JSON.parse(called.stdout).structuredContent).toMatchObject({ oid: alice.oid, upn: 'alice@contoso.test' })
    const servers = await cli(['servers'])
    expect(servers.stdout).toMatch(/^notes\tok$/m)
    const tools = await cli(['tools', 'notes'])
    expect(tools.stdout).toContain('whoami')

    const before = JSON.parse(await readFile(credentialsFile(), 'utf8')).tokens
    const refreshed = await cli(['refresh', '--json'])
    expect(refreshed.code).toBe(0)
    const after = JSON.parse(await readFile(credentialsFile(), 'utf8')).tokens
    expect(after.refresh_token).not.toBe(before.refresh_token)
    expect((await stat(credentialsFile())).mode & 0o777).toBe(0o600)

    const introspected = await cli(['introspect', '--json'])
    expect(JSON.parse(introspected.stdout)).toMatchObject({ active: true, sub: `${stack.emulator.tenantId}.${alice.oid}` })
    const userinfo = await cli(['userinfo', '--json'])
    expect(userinfo.code).toBe(0)
    expect(JSON.parse(userinfo.stdout)).toMatchObject({ sub: `${stack.emulator.tenantId}.${alice.oid}`, preferred_username: 'alice@contoso.test' })
    // userinfo rotated the refresh token; the tool call still works with the stored /v1 token.
    expect((await cli(['call', 'calendar', 'whoami'])).code).toBe(0)
    const discovered = JSON.parse((await cli(['discover', '--json'])).stdout)
    expect(discovered.resource.authorization_servers[0]).toBe(new URL(stack.relayUrl).origin)

    const out = await cli(['logout', '--json'])
    expect(out.code).toBe(0)
    await expect(stat(credentialsFile())).rejects.toThrow()
    const status = await cli(['status'])
    expect(status.code).toBe(EXIT_CODES.not_logged_in)
  })

  it('two processes refreshing at once: one refresh (the file lock), both calls succeed, no reuse detected', async () => {
    expect((await login()).code).toBe(0)
    const saved = JSON.parse(await readFile(credentialsFile(), 'utf8'))
    // Both see an expired access token.
    await writeFile(credentialsFile(), JSON.stringify({ ...saved, tokens: { ...saved.tokens, expires_at: 0 } }), { mode: 0o600 })
    const [one, two] = await Promise.all([cli(['call', 'notes', 'whoami', '--json']), cli(['call', 'calendar', 'whoami', '--json'])])
    expect([one.code, two.code, one.stderr, two.stderr]).toEqual([0, 0, '', ''])
    expect(stack.logs.join('')).not.toMatch(/"audit":"token.reused"/)
    expect((await cli(['logout'])).code).toBe(0)
  })

  it('refuses a credentials file others can read, and names what to do', async () => {
    expect((await login()).code).toBe(0)
    await chmod(credentialsFile(), 0o644)
    const refused = await cli(['call', 'notes', 'whoami'])
    expect(refused.code).toBe(EXIT_CODES.insecure_credentials)
    expect(refused.stderr).toContain('chmod 600')
    await chmod(credentialsFile(), 0o600)
    expect((await cli(['revoke', '--json'])).code).toBe(0)
    const afterRevoke = await cli(['call', 'notes', 'whoami'])
    expect(afterRevoke.code).toBe(EXIT_CODES.not_logged_in)
    expect((await cli(['logout'])).code).toBe(0)
  })

  it('login --device prints a code that a browser elsewhere enters', async () => {
    let driving: Promise<void> | undefined
    const run = await cli(['login', '--device', '--json'], (text) => {
      const match = /open (\S+) and enter the code ([A-Z]{4}-[A-Z]{4})/.exec(text)
      if (match === null || driving !== undefined) return
      driving = (async () => { await enterDeviceCode(stack, new HttpBrowser(stack.fetch), match[1]!, match[2]!, 'alice@contoso.test') })()
    })
    await driving
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'logged_in', user: { oid: alice.oid } })
    expect((await cli(['logout'])).code).toBe(0)
  })

  it('bad command lines exit with the usage code', async () => {
    expect((await cli(['call', 'notes'])).code).toBe(EXIT_CODES.usage)
    expect((await cli(['call', 'notes', 'whoami', '--args', '[1]'])).code).toBe(EXIT_CODES.usage)
    expect((await cli(['frobnicate'])).code).toBe(EXIT_CODES.usage)
    expect((await cli(['--bogus-flag', 'status'])).code).toBe(EXIT_CODES.usage)
  })
})
