// /readyz checks its dependencies again after a short TTL (it used to check Entra once and answer from a
// cached promise forever), and a probe storm within the TTL reaches no dependency.
import Fastify from 'fastify'
import { expect, it } from 'vitest'
import { opsRoutes } from '../../src/routes/ops.ts'

it('re-checks after the TTL, not on every probe', async () => {
  let clock = 0
  let healthy = true
  let checks = 0
  const app = Fastify()
  await app.register(opsRoutes, {
    readinessTtlMs: 1000,
    now: () => clock,
    readinessChecks: [{ name: 'entra', check: async () => { checks++; if (!healthy) throw new Error('Entra metadata cannot be fetched.') } }],
  })
  const probe = async () => await app.inject({ method: 'GET', url: '/readyz' })
  expect((await probe()).statusCode).toBe(200)
  healthy = false
  for (let i = 0; i < 10; i++) expect((await probe()).statusCode).toBe(200)
  expect(checks).toBe(1)
  clock += 1000
  const down = await probe()
  expect(down.statusCode).toBe(503)
  expect(down.json()).toEqual({ status: 'unavailable', checks: { entra: 'Entra metadata cannot be fetched.' } })
  healthy = true
  clock += 1000
  expect((await probe()).statusCode).toBe(200)
  expect(checks).toBe(3)
  await app.close()
})
