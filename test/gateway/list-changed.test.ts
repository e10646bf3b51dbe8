// Tool-list changes downstream reach the clients listening on the aggregated /mcp: a legacy client on its GET
// stream, a modern one on subscriptions/listen, from a legacy server and from a modern-only one. The server is
// told to announce a change until the client has seen one, so nothing waits on a guessed delay.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { connectSdk, modernPost, registerMcpApp, startModernFixture, type ModernFixture } from '../helpers/mcp-clients.ts'

const MODERN_APP_ID = '55555555-5555-4555-8555-555555555531'
const MODERN_APP_URI = 'api://modern-watch-mcp'

let stack: TestStack
let modern: ModernFixture
let alice: string

beforeAll(async () => {
  modern = await startModernFixture()
  stack = await startTestStack({ extraServers: [{ id: 'modern', url: modern.server.url, scopes: [`${MODERN_APP_URI}/user_impersonation`] }] })
  registerMcpApp(stack, MODERN_APP_ID, MODERN_APP_URI)
  modern.trust(stack, MODERN_APP_ID, MODERN_APP_URI)
  alice = await stack.userToken('alice@contoso.test')
})
afterAll(async () => {
  await stack?.close()
  await modern?.server.close()
})

describe('tools/list_changed from downstream', () => {
  it.each([['legacy notes', () => stack.notes.notifyToolsChanged()], ['modern fixture', () => modern.server.notifyToolsChanged()]])(
    'reaches a legacy client on its GET stream (%s)', async (_name, announce) => {
      const { client, close } = await connectSdk(`${stack.relayUrl}/mcp`, alice)
      try {
        let changes = 0
        client.setNotificationHandler(ToolListChangedNotificationSchema, async () => { changes++ })
        await client.listTools()
        await vi.waitFor(() => {
          announce()
          expect(changes).toBeGreaterThan(0)
        }, { timeout: 20_000, interval: 100 })
      } finally {
        await close()
      }
    })

  it('reaches a modern client on subscriptions/listen', async () => {
    const controller = new AbortController()
    const response = await modernPost(`${stack.relayUrl}/mcp`, alice, 'subscriptions/listen', { notifications: { toolsListChanged: true } }, { id: 'watch-1' })
    const reader = response.body!.getReader()
    let text = ''
    const reading = (async () => {
      while (!text.includes('notifications/tools/list_changed')) {
        const { value, done } = await reader.read()
        if (done) return
        text += new TextDecoder().decode(value)
      }
    })()
    await vi.waitFor(() => {
      stack.notes.notifyToolsChanged()
      expect(text).toContain('notifications/tools/list_changed')
    }, { timeout: 20_000, interval: 100 })
    await reading
    const event = text.split('\n\n').find((e) => e.includes('notifications/tools/list_changed'))!
    expect(JSON.parse(event.split('\n').find((line) => line.startsWith('data: '))!.slice(6))).toMatchObject({ params: { _meta: { 'io.modelcontextprotocol/subscriptionId': 'watch-1' } } })
    await reader.cancel()
    controller.abort()
  })
})
