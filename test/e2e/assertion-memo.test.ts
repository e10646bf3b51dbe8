// The memo a browser session or an agent grant keeps of the user's relay-scoped token holds its hash, not the
// token: an On-Behalf-Of miss takes the token from the sealed partition again (the very one, found by its hash,
// so MSAL is not asked to renew it), and a session signed out or a grant revoked meanwhile has none to give.
import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256b64url } from '../../src/crypto/hash.ts'
import { RelayError } from '../../src/errors.ts'
import { TokenMemo, userAssertionOf } from '../../src/caller/user-assertion.ts'
import { agentClient, loginAgent } from '../helpers/agent.ts'
import { signedInBrowser } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
beforeAll(async () => { stack = await startTestStack() })
afterAll(async () => { await stack?.close() })

async function reasonOf (promise: Promise<unknown>): Promise<string | undefined> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(RelayError)
  return (err as RelayError).reason
}

describe('the assertion memo', () => {
  it("a browser session's memo gives the token it was made of, holds it nowhere, and none once signed out", async () => {
    const browser = await signedInBrowser(stack, 'alice@contoso.test')
    // The cookie is the session id signed (`<id>.<signature>`).
    const signed = decodeURIComponent(browser.cookie(stack.relayUrl, 'obo_session') as string)
    const id = signed.slice(0, signed.lastIndexOf('.'))
    const sessions = stack.relay.services.sessions
    const record = (await sessions.get(id))!
    const memo = await sessions.userAssertion(id, record)
    const token = await memo.token()
    expect(sha256b64url(token)).toBe(memo.tokenHash)
    expect(JSON.stringify(memo)).not.toContain(token)
    expect(inspect(memo, { showHidden: true, depth: 10 })).not.toContain(token)
    // The next request's assertion is made of the same memo (the same token).
    expect((await sessions.userAssertion(id, record)).tokenHash).toBe(memo.tokenHash)

    await sessions.destroy(id)
    expect(await reasonOf(memo.token())).toBe('session_ended')
  })

  it("an agent grant's memo gives the token it was made of, and none once the grant is revoked", async () => {
    const agent = await agentClient(stack, { clientName: 'memo agent' })
    try {
      await loginAgent(stack, agent.client, 'alice@contoso.test')
      const alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
      const grants = stack.relay.services.agentAuth.grants
      const [record] = await grants.listForAccount(`${stack.emulator.tenantId}.${alice.oid}`)
      const memo = await grants.userAssertion(record!)
      const token = await memo.token()
      expect(sha256b64url(token)).toBe(memo.tokenHash)
      expect(inspect(memo, { showHidden: true, depth: 10 })).not.toContain(token)
      expect(memo).toMatchObject({ mode: 'agent', grantId: record!.grantId, oid: alice.oid })

      await grants.revoke(record!.grantId, 'user')
      expect(await reasonOf(memo.token())).toBe('grant_revoked')
    } finally {
      await agent.close()
    }
  })

  it('an OBO exchange made with a renewed token (not the one the memo named) is cached under that token too', async () => {
    const { obo, discovery } = stack.relay.services
    const { scopes } = await discovery.resolve('calendar')
    const alice = stack.emulator.users.find((u) => u.username === 'alice@contoso.test')!
    const identity = { tid: stack.emulator.tenantId, oid: alice.oid, upn: 'alice@contoso.test', name: 'Alice Example' }
    const exp = Math.floor(Date.now() / 1000) + 3000
    const named = await stack.userToken('alice@contoso.test')
    const renewed = await stack.userToken('alice@contoso.test')
    expect(renewed).not.toBe(named)
    // A memo naming one token whose partition gives another (MSAL renewed it between the memo and the miss).
    const memo = new TokenMemo(named, exp, { from: { tokenOf: async () => renewed }, key: 'session' })
    const before = stack.oboCalls()
    expect((await obo.exchange(userAssertionOf(identity, 'session', memo), scopes)).cache).toBe('miss')
    expect(stack.oboCalls() - before).toBe(1)
    // The next request's memo names the renewed token: no second exchange.
    expect((await obo.exchange(userAssertionOf(identity, 'session', new TokenMemo(renewed, exp)), scopes)).cache).toBe('hit')
    expect((await obo.exchange(userAssertionOf(identity, 'session', memo), scopes)).cache).toBe('hit')
    expect(stack.oboCalls() - before).toBe(1)
  })
})
