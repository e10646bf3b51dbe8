// Names of the aggregated `/mcp`'s tools: `<server><separator><tool>`, at most 128 characters (2025-11-25
// server/tools § Tool Names); a longer one keeps its start and ends in a hash of the whole, so it stays unique
// and the same on every replica.
import { sha256b64url } from '../crypto/hash.ts'

export const MAX_TOOL_NAME_LENGTH = 128
const HASH_LENGTH = 12

export function exposedToolName (serverId: string, tool: string, separator: string): string {
  const full = `${serverId}${separator}${tool}`
  if (full.length <= MAX_TOOL_NAME_LENGTH) return full
  const hash = sha256b64url(full).slice(0, HASH_LENGTH).replace(/[^A-Za-z0-9]/g, '0')
  return `${full.slice(0, MAX_TOOL_NAME_LENGTH - HASH_LENGTH - 1)}-${hash}`
}

/** The server an exposed name belongs to (the longest configured id it starts with), and the tool part when not shortened. */
export function parseToolName (name: string, serverIds: readonly string[], separator: string): { serverId: string, tool: string | undefined } | undefined {
  const serverId = serverIds.filter((id) => name.startsWith(`${id}${separator}`)).sort((a, b) => b.length - a.length)[0]
  if (serverId === undefined) return undefined
  const tool = name.slice(serverId.length + separator.length)
  // A shortened name is 128 characters long; only the tool list can tell which tool it stands for.
  return { serverId, tool: name.length === MAX_TOOL_NAME_LENGTH ? undefined : tool }
}
