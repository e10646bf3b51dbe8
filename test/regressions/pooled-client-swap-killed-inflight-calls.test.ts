// One pooled client per (user, server): a second agent of the same user with another token replaced the
// client and closed it under the first agent's running call (502), and the retry thrashed further.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack({ notesOptions: { slowToolStepMs: 100 } }) })
afterAll(async () => { await stack?.close() })

it('two agents of one user, each with its own token, never break each other\'s calls', async () => {
  const agentA = await stack.userToken('alice@contoso.test')
  const agentB = await stack.userToken('alice@contoso.test')
  const call = (token: string, tool: string, args: object) =>
    stack.call(`/v1/servers/notes/tools/${tool}`, { method: 'POST', token, body: JSON.stringify({ arguments: args }) })
  const slow = call(agentA, 'slow', { steps: 4 })
  await new Promise((resolve) => setTimeout(resolve, 100))
  const quick = await Promise.all(Array.from({ length: 10 }, (_, i) => call(i % 2 === 0 ? agentA : agentB, 'whoami', {})))
  expect(quick.map((r) => r.status)).toEqual(Array(10).fill(200))
  const slowResult = await slow
  expect(slowResult.status).toBe(200)
  expect(slowResult.body.isError).not.toBe(true)
  // One exchange per agent token: no client was torn down and retried with a forced new token (which
  // also re-ran the slow tool on the server).
  expect(stack.oboCalls()).toBe(2)
})
