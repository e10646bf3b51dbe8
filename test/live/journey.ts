// The end-to-end journey as one test body: `npm test` runs it against the emulator every time (with both token
// versions), and test/live runs the same body against a real Entra tenant when ENTRA_TEST_* are set, so the
// code a tenant exercises is never untested.
import { expect, it } from 'vitest'

export interface JourneyTarget {
  relayUrl: string
  /** A user access token for the relay's scope, from the target's Entra (ROPC of a public client). */
  userToken: () => Promise<string>
  /** The user the token belongs to. */
  username: string
  /** The relay's client id: the `azp` of the downstream token. */
  relayClientId: string
  /** The configured MCP server the journey calls `whoami` on. */
  serverId: string
}

const versionOf = (token: string): unknown => (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { ver?: unknown }).ver

export function journey (target: () => JourneyTarget, expectedVersion?: '1.0' | '2.0'): void {
  it(`validates the user's Entra token for the relay (mode A${expectedVersion === undefined ? '' : `, v${expectedVersion} token`})`, async () => {
    const t = target()
    const token = await t.userToken()
    if (expectedVersion !== undefined) expect(versionOf(token)).toBe(expectedVersion)
    const res = await fetch(`${t.relayUrl}/v1/me`, { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { upn: string }).upn.toLowerCase()).toBe(t.username.toLowerCase())
  })

  it('discovers the server\'s scope from its PRM and binds its audience', async () => {
    const t = target()
    const res = await fetch(`${t.relayUrl}/v1/servers`, { headers: { authorization: `Bearer ${await t.userToken()}` } })
    const server = ((await res.json()) as { servers: Array<Record<string, unknown>> }).servers.find((s) => s.id === t.serverId)
    expect(server).toMatchObject({ status: 'ok', scopeSource: 'prm' })
    expect(server?.audience).toEqual(expect.any(String))
  })

  it('exchanges On-Behalf-Of with Entra and calls whoami as the user', async () => {
    const t = target()
    const res = await fetch(`${t.relayUrl}/v1/servers/${t.serverId}/tools/whoami`, {
      method: 'POST', headers: { authorization: `Bearer ${await t.userToken()}`, 'content-type': 'application/json' }, body: '{"arguments":{}}',
    })
    expect(res.status).toBe(200)
    const body = await res.json() as { structuredContent: { upn: string, azp: string } }
    expect(body.structuredContent.upn.toLowerCase()).toBe(t.username.toLowerCase())
    expect(body.structuredContent.azp).toBe(t.relayClientId)
  }, 30_000)
}
