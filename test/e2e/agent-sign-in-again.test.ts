// An agent's grant whose Entra refresh token is refused: the agent's next call is a 401 whose login_url signs the
// user in again for that grant (same /auth/callback), and the grant works again with the new partition.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AgentError } from '../../cli/client/index.ts'
import { agentClient, loginAgent } from '../helpers/agent.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
let alice: { oid: string }
let account: string

beforeAll(async () => {
  // Relay-scoped tokens live 100 s, so every silent call of a grant uses its partition's refresh token.
  stack = await startTestStack({ emulator: { accessTokenLifetimeSec: 100 } })
  alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
  account = `${stack.emulator.tenantId}.${alice.oid}`
})
afterAll(async () => { await stack?.close() })

const grants = () => stack.relay.services.agentAuth.grants
const whoami = (structured: unknown) => (structured as { structuredContent: { oid: string } }).structuredContent

async function refusedWith (promise: Promise<unknown>): Promise<AgentError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(AgentError)
  return err as AgentError
}

describe('agent sign-in again', () => {
  it('when Entra refuses the grant\'s refresh token, the 401\'s login_url signs alice in again for that grant', async () => {
    const agent = await agentClient(stack, { clientName: 're-sign-in agent' })
    try {
      const { browser } = await loginAgent(stack, agent.client, 'alice@contoso.test')
      stack.emulator.addFault({ grant: 'refresh_token', user: 'alice@contoso.test', fault: 'invalid_grant', count: 1 })
      const refused = await refusedWith(agent.client.callTool('notes', 'whoami', {}))
      expect(refused.kind).toBe('sign_in_required')
      const grant = (await grants().listForAccount(account)).find((g) => g.clientName === 're-sign-in agent')!
      const loginUrl = String(refused.body?.login_url)
      expect(loginUrl).toBe(`${stack.relayUrl}/auth/login?grant=${grant.grantId}`)
      // Alice follows it (Entra remembers her), and the agent works again.
      const { response } = await browser.follow(loginUrl)
      expect(response.status).toBe(200)
      expect(await response.text()).toContain('re-sign-in agent can act for you again')
      expect(whoami(await agent.client.callTool('notes', 'whoami', {})).oid).toBe(alice.oid)
    } finally {
      await agent.client.logout()
      await agent.close()
    }
  })
})
