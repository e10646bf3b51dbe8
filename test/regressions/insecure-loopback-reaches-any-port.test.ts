// With ALLOW_INSECURE_LOOPBACK a downstream 401's resource_metadata made the relay GET any loopback host:port,
// and it echoed that document's `resource` into /v1/servers.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startHostileStack, type HostileStack } from '../helpers/hostile.ts'

let h: HostileStack
let other: Server
const otherRequests: string[] = []

beforeAll(async () => {
  // Another local service the hostile server points the relay at.
  other = createServer((req, res) => {
    otherRequests.push(req.url ?? '')
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ resource: 'http://internal-secret.example/', authorization_servers: [], scopes_supported: ['x'] }))
  })
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
  h = await startHostileStack(['announce-other-port'], { otherOrigin: `http://127.0.0.1:${(other.address() as AddressInfo).port}` })
})
afterAll(async () => {
  await h?.close()
  await new Promise((resolve) => other?.close(resolve))
})

it('never fetches a resource_metadata URL outside the server\'s own host and port, and echoes nothing of it', async () => {
  const token = await h.stack.userToken('alice@contoso.test')
  const res = await h.stack.call('/v1/servers/hostile-announce-other-port/tools/ok', { method: 'POST', token, body: '{}' })
  expect(res.status).toBe(502)
  const servers = await h.stack.call('/v1/servers', { token })
  expect(JSON.stringify(servers.body)).not.toContain('internal-secret')
  expect(otherRequests).toEqual([])
})
