// `maxParamLength` (100) made tools with 101–128 character names unreachable (414).
import { afterAll, beforeAll, expect, it } from 'vitest'
import { LONG_TOOL_NAME } from '../fixtures/hostile-mcp.ts'
import { HOSTILE_APIS, startHostileStack, type HostileStack } from '../helpers/hostile.ts'

let h: HostileStack
beforeAll(async () => { h = await startHostileStack(['bounded'], { pins: { bounded: HOSTILE_APIS.bounded.appIdUri } }) })
afterAll(async () => { await h?.close() })

it('a 120-character tool name is called like any other', async () => {
  expect(LONG_TOOL_NAME.length).toBe(120)
  const token = await h.stack.userToken('alice@contoso.test')
  const res = await h.stack.call(`/v1/servers/hostile-bounded/tools/${LONG_TOOL_NAME}`, { method: 'POST', token, body: '{}' })
  expect(res.status).toBe(200)
  expect(res.body.content[0].text).toBe('fine')
})
