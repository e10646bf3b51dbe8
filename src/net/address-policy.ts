// Which IP addresses metadata fetches may connect to: public unicast only, unless a host is allow-listed.
import { BlockList, isIP } from 'node:net'

export type AddressCategory = 'public' | 'loopback' | 'private' | 'link-local' | 'unspecified' | 'multicast' | 'reserved'

type Range = [network: string, prefix: number]

const IPV4_RANGES: Record<Exclude<AddressCategory, 'public'>, Range[]> = {
  unspecified: [['0.0.0.0', 8]],
  loopback: [['127.0.0.0', 8]],
  private: [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10]],
  // 169.254.169.254 is the cloud instance metadata service.
  'link-local': [['169.254.0.0', 16]],
  multicast: [['224.0.0.0', 4]],
  // IETF protocol assignments, documentation, benchmarking, class E and broadcast.
  reserved: [['192.0.0.0', 24], ['192.0.2.0', 24], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['240.0.0.0', 4]],
}

const IPV6_RANGES: Record<Exclude<AddressCategory, 'public'>, Range[]> = {
  unspecified: [['::', 128]],
  loopback: [['::1', 128]],
  // Unique local, deprecated site-local, local-use NAT64.
  private: [['fc00::', 7], ['fec0::', 10], ['64:ff9b:1::', 48]],
  'link-local': [['fe80::', 10]],
  multicast: [['ff00::', 8]],
  // Discard-only, Teredo (embeds an obfuscated IPv4), ORCHID, documentation.
  reserved: [['100::', 64], ['2001::', 32], ['2001:10::', 28], ['2001:db8::', 32]],
}

function buildLists (family: 'ipv4' | 'ipv6', ranges: Record<string, Range[]>): Array<[AddressCategory, BlockList]> {
  return Object.entries(ranges).map(([category, list]) => {
    const blockList = new BlockList()
    for (const [network, prefix] of list) blockList.addSubnet(network, prefix, family)
    return [category as AddressCategory, blockList]
  })
}

const IPV4_LISTS = buildLists('ipv4', IPV4_RANGES)
const IPV6_LISTS = buildLists('ipv6', IPV6_RANGES)

/** The eight 16-bit groups of a valid IPv6 address (dotted IPv4 tail included). */
function ipv6Groups (address: string): number[] {
  let text = address
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined
    ? headGroups
    : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
  return groups.map((group) => Number.parseInt(group, 16))
}

/** The IPv4 address an IPv6 one stands for: mapped, translated, compatible, NAT64 and 6to4 forms. */
function embeddedIpv4 (groups: number[]): string | undefined {
  const g = (i: number): number => groups[i] ?? 0
  const quad = (hi: number, lo: number): string => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
  const zeros = (from: number, to: number): boolean => groups.slice(from, to).every((x) => x === 0)
  if (zeros(0, 5) && g(5) === 0xffff) return quad(g(6), g(7)) // ::ffff:a.b.c.d (IPv4-mapped)
  if (zeros(0, 4) && g(4) === 0xffff && g(5) === 0) return quad(g(6), g(7)) // ::ffff:0:a.b.c.d (IPv4-translated, RFC 2765 §2.1)
  if (zeros(0, 6) && (g(6) !== 0 || g(7) > 1)) return quad(g(6), g(7)) // ::a.b.c.d (deprecated)
  if (g(0) === 0x64 && g(1) === 0xff9b && zeros(2, 6)) return quad(g(6), g(7)) // 64:ff9b::/96 NAT64
  if (g(0) === 0x2002) return quad(g(1), g(2)) // 2002::/16 6to4
  return undefined
}

/** What kind of address this is; anything that is not a valid IP counts as reserved. */
export function classifyAddress (address: string): AddressCategory {
  const plain = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  const family = isIP(plain)
  if (family === 4) return IPV4_LISTS.find(([, list]) => list.check(plain, 'ipv4'))?.[0] ?? 'public'
  if (family !== 6) return 'reserved'
  const groups = ipv6Groups(plain)
  if (groups.length !== 8 || groups.some((x) => !Number.isInteger(x))) return 'reserved'
  const ipv4 = embeddedIpv4(groups)
  if (ipv4 !== undefined) return classifyAddress(ipv4)
  return IPV6_LISTS.find(([, list]) => list.check(plain, 'ipv6'))?.[0] ?? 'public'
}

/** `localhost`, `*.localhost` (RFC 6761 §6.3) or a loopback IP literal. */
export function isLoopbackHostname (hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '')
  if (host === 'localhost' || host.endsWith('.localhost')) return true
  return isIP(host) !== 0 && classifyAddress(host) === 'loopback'
}

export interface AddressPolicyContext {
  /** The hostname is in the operator's allow-list (DISCOVERY_ALLOWED_HOSTS). */
  hostAllowListed: boolean
  /** Dev mode, the hostname itself names loopback, and host and port are a configured server's own. */
  loopbackAllowed: boolean
}

/** Unspecified and multicast addresses are never reachable targets; the rest need the allow-list. */
export function isAddressAllowed (category: AddressCategory, context: AddressPolicyContext): boolean {
  if (category === 'public') return true
  if (category === 'unspecified' || category === 'multicast') return false
  if (context.hostAllowListed) return true
  return category === 'loopback' && context.loopbackAllowed
}
