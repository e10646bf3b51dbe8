// The stream guard's own bookkeeping (its list of open requests): what is tracked, untracked in any order,
// ended by grant or by sweep, is counted and ended exactly once. The end-to-end behaviour (streams cut on
// revocation, sign-out, expiry) is in stream-revocation.test.ts.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { Caller } from '../../src/http/auth.ts'
import type { AgentGrantRef } from '../../src/caller/relay-token.ts'
import { StreamGuard } from '../../src/gateway/stream-guard.ts'

const logger = pino({ level: 'silent' })
const grantOf = (id: string): AgentGrantRef => ({ id, clientId: 'agent', scopes: ['tools:read', 'tools:call'], resource: 'https://relay.test/mcp' })
const caller = (over: Partial<Caller> = {}): Caller => ({ kind: 'agent', scheme: 'Bearer', user: { tid: 't', oid: 'o', mode: 'agent' } as Caller['user'], ...over })

describe('StreamGuard', () => {
  it('counts what is open, whichever order requests finish in, and untracking twice changes nothing', () => {
    const guard = new StreamGuard({ recheckMs: 60_000, logger })
    const ended: string[] = []
    const untrack = ['a', 'b', 'c', 'd'].map((name) => guard.track(caller({ grant: grantOf(name) }), () => { ended.push(name) }))
    expect(guard.size).toBe(4)
    untrack[1]!() // middle
    untrack[3]!() // the newest (the list's head)
    untrack[0]!() // the oldest (its tail)
    untrack[1]!()
    expect(guard.size).toBe(1)
    // What is left is exactly c: ending every other grant ends nothing.
    expect(guard.endGrant('a') + guard.endGrant('b') + guard.endGrant('d')).toBe(0)
    expect(guard.endGrant('c')).toBe(1)
    expect(ended).toEqual(['c'])
    expect(guard.size).toBe(0)
    untrack[2]!() // already ended: nothing happens
    expect(guard.size).toBe(0)
    guard.close()
  })

  it('ends every request of a grant once, the others stay, and one tracked after still counts', () => {
    const guard = new StreamGuard({ recheckMs: 60_000, logger })
    const ended: number[] = []
    const grant = grantOf('g1')
    for (let i = 0; i < 5; i++) guard.track(caller(i % 2 === 0 ? { grant } : {}), () => { ended.push(i) })
    expect(guard.endGrant('g1')).toBe(3)
    expect(guard.endGrant('g1')).toBe(0)
    expect(ended.sort()).toEqual([0, 2, 4])
    expect(guard.size).toBe(2)
    guard.track(caller({ grant }), () => { ended.push(9) })
    expect(guard.endGrant('g1')).toBe(1)
    expect(guard.size).toBe(2)
    guard.close()
  })

  it('a sweep ends the expired and the revoked, asks each credential once, and keeps the rest', async () => {
    let now = 1_000_000
    const guard = new StreamGuard({ recheckMs: 60_000, logger, now: () => now })
    const ended: string[] = []
    let asked = 0
    const revoked = async (): Promise<boolean> => { asked++; return false }
    guard.track(caller({ expiresAt: now / 1000 + 10 }), () => { ended.push('expires') })
    guard.track(caller({ stillValid: revoked }), () => { ended.push('revoked 1') })
    guard.track(caller({ stillValid: revoked }), () => { ended.push('revoked 2') })
    const kept = guard.track(caller({ stillValid: async () => true }), () => { ended.push('valid') })
    await guard.sweep()
    expect(ended.sort()).toEqual(['revoked 1', 'revoked 2'])
    expect(asked).toBe(1)
    expect(guard.size).toBe(2)
    now += 11_000
    await guard.sweep()
    expect(ended).toContain('expires')
    expect(guard.size).toBe(1)
    kept()
    expect(guard.size).toBe(0)
    guard.close()
  })
})
