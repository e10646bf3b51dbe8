// Dynamic registrations are counted per IPv4 address and per IPv6 /64: a host with a /64 cannot register
// without limit by changing its interface id.
import { expect, it } from 'vitest'
import { registrationBucket } from '../../src/agent-auth/index.ts'

it('counts IPv4 (also IPv4-mapped) by address and IPv6 by its /64, however it is written', () => {
  expect(registrationBucket('203.0.113.7')).toBe('203.0.113.7')
  expect(registrationBucket('::ffff:203.0.113.7')).toBe('203.0.113.7')
  const bucket = registrationBucket('2001:db8:abcd:12::1')
  expect(bucket).toBe('2001:db8:abcd:12::/64')
  for (const sameNet of ['2001:db8:abcd:12:ffff:ffff:ffff:ffff', '2001:0DB8:abcd:0012:1:2:3:4', '2001:db8:abcd:12:0:0:0:99']) expect(registrationBucket(sameNet)).toBe(bucket)
  expect(registrationBucket('2001:db8:abcd:13::1')).not.toBe(bucket)
  expect(registrationBucket('::1')).toBe('0:0:0:0::/64')
})
