import { describe, expect, it } from 'vitest'
import { classifyAddress, isAddressAllowed, isLoopbackHostname } from '../../src/net/address-policy.ts'

describe('classifyAddress', () => {
  it.each([
    ['93.184.216.34', 'public'],
    ['8.8.8.8', 'public'],
    ['2606:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.5', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.128.0.1', 'public'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['0:0:0:0:0:ffff:a00:5', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    // IPv4-translated (::ffff:0:0/96, RFC 2765): classified by the embedded address, not as public IPv6.
    ['::ffff:0:169.254.169.254', 'link-local'],
    ['::ffff:0:a00:5', 'private'],
    ['::ffff:0:127.0.0.1', 'loopback'],
    ['::10.0.0.5', 'private'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['2002:0a00:0005::1', 'private'],
    ['[::1]', 'loopback'],
    ['not-an-ip', 'reserved'],
  ])('%s is %s', (address, category) => {
    expect(classifyAddress(address)).toBe(category)
  })
})

describe('address policy', () => {
  it('knows loopback names', () => {
    expect(['localhost', 'api.localhost', '127.0.0.1', '[::1]', 'LOCALHOST.'].every(isLoopbackHostname)).toBe(true)
    expect(['localhost.example.com', '10.0.0.1', 'example.com', '0.0.0.0'].some(isLoopbackHostname)).toBe(false)
  })

  it('never allows unspecified or multicast, even for allow-listed hosts', () => {
    const listed = { hostAllowListed: true, loopbackAllowed: true }
    expect(isAddressAllowed('unspecified', listed)).toBe(false)
    expect(isAddressAllowed('multicast', listed)).toBe(false)
    expect(isAddressAllowed('private', listed)).toBe(true)
    expect(isAddressAllowed('link-local', { hostAllowListed: false, loopbackAllowed: true })).toBe(false)
    expect(isAddressAllowed('loopback', { hostAllowListed: false, loopbackAllowed: true })).toBe(true)
    expect(isAddressAllowed('loopback', { hostAllowListed: false, loopbackAllowed: false })).toBe(false)
  })
})
