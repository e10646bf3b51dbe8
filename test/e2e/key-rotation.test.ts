// TOKEN_ENCRYPTION_KEY rotation (README "Rotating keys"): a replica started with a new key and the old one as
// TOKEN_ENCRYPTION_KEY_PREVIOUS keeps every browser session (cookie signature and sealed MSAL partition) and every
// agent token (the authorization server's sealed store and keys); without the previous key it refuses to start.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createLogger } from '../../src/observability/logger.ts'
import { createRelay, type Relay } from '../../src/relay.ts'
import { createMemoryStore } from '../../src/stores/memory.ts'
import type { HttpBrowser } from '../helpers/browser.ts'
import { dpopBoundTokens, proof, type IssuedTokens } from '../helpers/oauth.ts'
import { signedInBrowser } from '../helpers/sign-in.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

const store = createMemoryStore()
const transientStore = createMemoryStore()
let stack: TestStack
let alice: HttpBrowser
let agent: IssuedTokens
const replicas: Relay[] = []

beforeAll(async () => {
  stack = await startTestStack({ relay: { store, transientStore } })
  alice = await signedInBrowser(stack, 'alice@contoso.test')
  agent = await dpopBoundTokens(stack)
})
afterAll(async () => {
  for (const relay of replicas) await relay.close()
  await stack?.close()
  await store.close()
  await transientStore.close()
})

async function replicaWith (keys: { current: Buffer, previous?: Buffer }): Promise<{ url: string, relay: Relay }> {
  const config = { ...stack.config, tokenEncryptionKey: keys.current, tokenEncryptionKeyPrevious: keys.previous }
  const relay = await createRelay({ config, logger: createLogger('silent'), store, transientStore })
  replicas.push(relay)
  await relay.app.listen({ host: '127.0.0.1', port: 0 })
  const address = relay.app.server.address()
  return { relay, url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}` }
}

/** The browser's session cookie and the agent's DPoP token, sent to a replica; the statuses of /v1/me and a tool call. */
async function statusesAt (replica: { url: string, relay: Relay }): Promise<{ browserMe: number, browserTool: number, agentMe: number }> {
  const cookie = alice.cookieHeader(stack.relayUrl)
  const browserMe = (await fetch(`${replica.url}/v1/me`, { headers: { cookie } })).status
  const browserTool = (await fetch(`${replica.url}/v1/servers/notes/tools/whoami`, {
    method: 'POST', body: '{"arguments":{}}', headers: { cookie, 'content-type': 'application/json', origin: stack.relayUrl },
  })).status
  const token = agent.tokens.access_token
  const nonce = replica.relay.services.agentAuth.nonces.next()
  const agentMe = (await fetch(`${replica.url}/v1/me`, {
    headers: { authorization: `DPoP ${token}`, dpop: await proof(agent.dpop, { htm: 'GET', htu: `${stack.relayUrl}/v1/me`, nonce }, token) },
  })).status
  return { browserMe, browserTool, agentMe }
}

it('with the old key as TOKEN_ENCRYPTION_KEY_PREVIOUS, sessions and agent tokens keep working', async () => {
  expect(await statusesAt({ url: stack.relayUrl, relay: stack.relay })).toEqual({ browserMe: 200, browserTool: 200, agentMe: 200 })
  const rotated = await replicaWith({ current: randomBytes(32), previous: stack.config.tokenEncryptionKey })
  expect(await statusesAt(rotated)).toEqual({ browserMe: 200, browserTool: 200, agentMe: 200 })
})

it('without it, a replica refuses to start and says why (it could open nothing the others sealed)', async () => {
  await expect(replicaWith({ current: randomBytes(32) })).rejects.toThrow(/TOKEN_ENCRYPTION_KEY differs from the one that sealed them/)
})
