// MCP Inspector CLI (`@modelcontextprotocol/inspector-cli`), a client we did not write, lists and calls tools
// through the relay: the pass-through and the aggregated /mcp.
import { spawn } from 'node:child_process'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const INSPECTOR = fileURLToPath(new URL('../../node_modules/@modelcontextprotocol/inspector-cli/build/index.js', import.meta.url))

let stack: TestStack
let alice: string

beforeAll(async () => {
  stack = await startTestStack()
  alice = await stack.userToken('alice@contoso.test')
})
afterAll(async () => { await stack?.close() })

async function inspector (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve, reject) => {
    // Its build directory as cwd: the CLI checks for `../package.json` relative to the working directory.
    const child = spawn(process.execPath, [INSPECTOR, ...args], { cwd: dirname(INSPECTOR), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

const auth = () => ['--transport', 'http', '--header', `Authorization: Bearer ${alice}`]
const aliceOid = () => stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!.oid

describe('MCP Inspector CLI through the relay', () => {
  it('lists and calls the tools of /mcp/notes', async () => {
    const listed = await inspector([`${stack.relayUrl}/mcp/notes`, ...auth(), '--method', 'tools/list'])
    expect(listed.code, listed.stderr).toBe(0)
    expect((JSON.parse(listed.stdout) as { tools: Array<{ name: string }> }).tools.map((t) => t.name)).toEqual(expect.arrayContaining(['whoami', 'create_note']))
    const called = await inspector([`${stack.relayUrl}/mcp/notes`, ...auth(), '--method', 'tools/call', '--tool-name', 'whoami'])
    expect(called.code, called.stderr).toBe(0)
    expect(JSON.parse(called.stdout).structuredContent).toMatchObject({ oid: aliceOid(), upn: 'alice@contoso.test' })
  })

  it('lists and calls the aggregated tools of /mcp', async () => {
    const listed = await inspector([`${stack.relayUrl}/mcp`, ...auth(), '--method', 'tools/list'])
    expect(listed.code, listed.stderr).toBe(0)
    expect((JSON.parse(listed.stdout) as { tools: Array<{ name: string }> }).tools.map((t) => t.name)).toEqual(expect.arrayContaining(['notes__whoami', 'calendar__list_events']))
    const called = await inspector([`${stack.relayUrl}/mcp`, ...auth(), '--method', 'tools/call', '--tool-name', 'calendar__add', '--tool-arg', 'a=2', 'b=40'])
    expect(called.code, called.stderr).toBe(0)
    expect(JSON.parse(called.stdout).structuredContent).toEqual({ sum: 42 })
  })

  it('without a token it fails, and says so', async () => {
    const refused = await inspector([`${stack.relayUrl}/mcp/notes`, '--transport', 'http', '--method', 'tools/list'])
    expect(refused.code).not.toBe(0)
  })
})
