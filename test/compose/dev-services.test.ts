// dev/services.ts as the compose `dev` profile runs it, but on loopback: the emulator and the sample
// servers under the names relays use (their TLS certificates and published URLs), one CA file for both CAs.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent, fetch } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_TENANT_ID } from '../../dev/entra-emulator/index.ts'
import { freePort } from '../../dev/start-stack.ts'
import { waitFor } from './shell.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))

describe('dev/services.ts', () => {
  const certDir = mkdtempSync(join(tmpdir(), 'obo-dev-services-'))
  const ports = { emulator: 0, notes: 0, calendar: 0 }
  let services: ChildProcess | undefined
  let output = ''
  let ca = ''

  /** GET over TLS to 127.0.0.1:port, verifying the certificate for `name` against the CA file. */
  const getJson = async (name: string, port: number, path: string): Promise<any> => {
    const dispatcher = new Agent({ connect: { ca, servername: name } })
    try {
      const response = await fetch(`https://127.0.0.1:${port}${path}`, { dispatcher, signal: AbortSignal.timeout(5_000) })
      expect(response.status).toBe(200)
      return await response.json()
    } finally {
      await dispatcher.close()
    }
  }

  beforeAll(async () => {
    ports.emulator = await freePort()
    ports.notes = await freePort()
    ports.calendar = await freePort()
    services = spawn(process.execPath, ['dev/services.ts'], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        SERVICES_HOST: '127.0.0.1',
        EMULATOR_PORT: String(ports.emulator),
        NOTES_PORT: String(ports.notes),
        CALENDAR_PORT: String(ports.calendar),
        EMULATOR_PUBLIC_URL: `https://emulator:${ports.emulator}`,
        NOTES_PUBLIC_URL: `https://notes:${ports.notes}`,
        CALENDAR_PUBLIC_URL: `https://calendar:${ports.calendar}`,
        SAMPLES_TLS: 'true',
        EMULATOR_CERT_DIR: certDir,
      },
    })
    services.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    services.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    // The CA file is written last, once all three listen.
    ca = await waitFor('dev services writing ca.pem', 20_000, 100, async () => {
      if (services?.exitCode !== null) throw new Error(`dev/services.ts exited: ${output}`)
      return readFileSync(join(certDir, 'ca.pem'), 'utf8')
    })
  })

  afterAll(async () => {
    if (services !== undefined && services.exitCode === null) {
      services.kill('SIGKILL')
      await new Promise((resolve) => services?.once('exit', resolve))
    }
    rmSync(certDir, { recursive: true, force: true })
  })

  it('writes one CA file holding the emulator\'s CA and the sample servers\' CA', () => {
    expect(ca.match(/BEGIN CERTIFICATE/g)).toHaveLength(2)
  })

  it('serves the emulator under its public name: TLS certificate, issuer and endpoints', async () => {
    const metadata = await getJson('emulator', ports.emulator, `/${DEV_TENANT_ID}/v2.0/.well-known/openid-configuration`)
    expect(metadata.issuer).toBe(`https://emulator:${ports.emulator}/${DEV_TENANT_ID}/v2.0`)
    expect(metadata.token_endpoint).toBe(`https://emulator:${ports.emulator}/${DEV_TENANT_ID}/oauth2/v2.0/token`)
  })

  it('serves the sample servers over TLS, publishing PRM with their public URLs and the emulator as issuer', async () => {
    const notes = await getJson('notes', ports.notes, '/.well-known/oauth-protected-resource/mcp')
    expect(notes).toMatchObject({
      resource: `https://notes:${ports.notes}/mcp`,
      authorization_servers: [`https://emulator:${ports.emulator}/${DEV_TENANT_ID}/v2.0`],
      scopes_supported: ['api://notes-mcp/user_impersonation'],
    })
    const calendar = await getJson('calendar', ports.calendar, '/.well-known/oauth-protected-resource')
    expect(calendar.resource).toBe(`https://calendar:${ports.calendar}/mcp`)
  })

  it('prints the URLs and stops on SIGTERM', async () => {
    expect(output).toContain(`https://emulator:${ports.emulator}/${DEV_TENANT_ID}/v2.0/.well-known/openid-configuration`)
    expect(output).toContain(`https://notes:${ports.notes}/mcp`)
    const exited = new Promise<number | null>((resolve) => services?.once('exit', resolve))
    services?.kill('SIGTERM')
    expect(await exited).toBe(0)
  })
})
