// Callers arriving in every microtask while Entra's OBO answer lands (token cached, flight released) still cause one Entra call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDispatcher, createFetch, type FetchLike } from '../../src/net/http-client.ts'
import type { OboResult } from '../../src/entra/obo.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

/** New callers per burst: one per microtask; between bursts the event loop runs (I/O, timers). */
const BURST = 400
/** Bursts that still run after the first callers have their token. */
const TURNS_AFTER = 3

let stack: TestStack
let inner: FetchLike | undefined
/** Called when Entra's answer to an On-Behalf-Of request has been read, just before MSAL gets it. */
let onOboAnswer: (() => void) | undefined

/**
 * The relay's outbound fetch, which the test owns: an OBO answer is read whole here and handed on as it came, so
 * that from this point MSAL and the OBO service run on microtasks only, and the callers started in each of them
 * see every step of the landing.
 */
const watchingFetch: FetchLike = async (input, init) => {
  if (inner === undefined) throw new Error('not ready')
  const response = await inner(input, init)
  const url = String(input instanceof Request ? input.url : input)
  if (!new URL(url).pathname.endsWith('/oauth2/v2.0/token') || !String(init?.body ?? '').includes('requested_token_use=on_behalf_of')) return response
  const body = await response.arrayBuffer()
  onOboAnswer?.()
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers })
}

beforeAll(async () => {
  stack = await startTestStack({ relay: { fetch: watchingFetch } })
  inner = createFetch(createDispatcher({ trustedCaPem: stack.emulator.caPem }))
})
afterAll(async () => { await stack?.close() })

describe('OBO single-flight around the moment Entra answers', () => {
  it('callers started in each microtask and tick after the answer arrives: exactly one on_behalf_of call', async () => {
    const { obo, validateAccessToken, discovery } = stack.relay.services
    const user = await validateAccessToken(await stack.userToken('alice@contoso.test'))
    const { scopes } = await discovery.resolve('notes')
    const before = stack.oboCalls()

    let firstDone = false
    /** Where the bursts stood when the first callers got their token: [burst, step within it]. */
    let landedAt: [number, number] | undefined
    const late: Array<Promise<OboResult>> = []
    let bursts = 0
    let step = 0
    const burstsEnded = new Promise<void>((resolve) => {
      let answered = false
      let turnsLeft = TURNS_AFTER
      onOboAnswer = () => {
        if (answered) return
        answered = true
        const burst = (): void => {
          bursts++
          step = 0
          const next = (): void => {
            late.push(obo.exchange(user, scopes))
            if (++step < BURST) queueMicrotask(next)
            else setImmediate(() => { if (!firstDone || turnsLeft-- > 0) burst(); else resolve() })
          }
          queueMicrotask(next)
        }
        burst()
      }
    })

    const first = Array.from({ length: 10 }, async () => await obo.exchange(user, scopes))
    const firstResults = await Promise.all(first).finally(() => {
      firstDone = true
      landedAt = [bursts, step]
    })
    await burstsEnded
    const lateResults = await Promise.all(late)
    onOboAnswer = undefined

    // The test saw what it is about: the first callers got their token while a burst was starting a caller per
    // microtask, so callers were started right before, during and right after the cache write and the release.
    expect(landedAt).toBeDefined()
    expect(landedAt![1]).toBeGreaterThan(0)
    expect(landedAt![1]).toBeLessThan(BURST)
    const outcomes = new Set(lateResults.map((r) => r.cache))
    expect(outcomes).toContain('coalesced')
    expect(outcomes).toContain('hit')

    expect(stack.oboCalls() - before).toBe(1)
    expect(new Set([...firstResults, ...lateResults].map((r) => r.accessToken)).size).toBe(1)
    expect(firstResults.filter((r) => r.cache === 'miss')).toHaveLength(1)
    expect(lateResults.filter((r) => r.cache === 'miss')).toHaveLength(0)
  })
})
