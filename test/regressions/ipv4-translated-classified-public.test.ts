// `::ffff:0:a.b.c.d` (IPv4-translated, RFC 2765) was classified as a public address, so a name resolving to
// `::ffff:0:169.254.169.254` reached the cloud metadata service.
import { expect, it } from 'vitest'
import { classifyAddress } from '../../src/net/address-policy.ts'

it.each([
  ['::ffff:0:169.254.169.254', 'link-local'],
  ['::ffff:0:a9fe:a9fe', 'link-local'],
  ['::ffff:0:10.0.0.1', 'private'],
  ['::ffff:0:127.0.0.1', 'loopback'],
  ['0:0:0:0:ffff:0:c0a8:101', 'private'],
])('%s is %s', (address, category) => {
  expect(classifyAddress(address)).toBe(category)
})
