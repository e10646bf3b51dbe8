// The header copy of the bench's minimal proxies: everything but the hop-by-hop headers (RFC 9110 §7.6.1) and
// `host`, plus whatever else a proxy sets itself.
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'host', 'upgrade', 'te', 'trailer', 'proxy-connection']

export type HeaderCopy = (headers: Record<string, string | string[] | undefined>) => Record<string, string | string[]>

/** A copier that also drops `alsoDropped` (e.g. `content-length`, for a proxy that sends a body it has read whole). */
export function headerCopy (alsoDropped: readonly string[] = []): HeaderCopy {
  const dropped = new Set([...HOP_BY_HOP, ...alsoDropped])
  return (headers) => {
    const out: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(headers)) if (value !== undefined && !dropped.has(name)) out[name] = value
    return out
  }
}
