// TOOL_FILTERS: which tools each identity may see and call, per server, by group or app-role claim.
import type { EnvReader } from './env.ts'

/**
 * One rule. Rules are read in order and the first that matches a (server, tool, identity) decides; no match
 * allows. A rule matches a tool when `server` is its server id (or `*`) and a `tools` pattern matches its name
 * (`*` matches any run of characters); it matches an identity when the token carries one of `groups` (group
 * object ids) or one of `roles` (app-role values), or always when it names neither.
 */
export interface ToolFilterRule {
  server: string
  tools: string[]
  effect: 'allow' | 'deny'
  groups?: string[]
  roles?: string[]
}

const FIELDS = new Set(['server', 'tools', 'effect', 'groups', 'roles'])
const NAME = /^[\x21-\x7e]{1,256}$/
export const TOOL_FILTERS_EXAMPLE = '[{"server":"notes","tools":["create_note"],"effect":"allow","roles":["Notes.Writer"]},{"server":"notes","tools":["create_note"],"effect":"deny"}]'

export function parseToolFilters (env: EnvReader): ToolFilterRule[] {
  const raw = env.get('TOOL_FILTERS')
  if (raw === undefined) return []
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    env.problems.push(`TOOL_FILTERS must be a JSON list of rules, e.g. ${TOOL_FILTERS_EXAMPLE}`)
    return []
  }
  if (!Array.isArray(parsed)) {
    env.problems.push(`TOOL_FILTERS must be a JSON list of rules, e.g. ${TOOL_FILTERS_EXAMPLE}`)
    return []
  }
  const rules: ToolFilterRule[] = []
  parsed.forEach((entry: unknown, i) => {
    const where = `TOOL_FILTERS[${i}]`
    const e = (typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? entry : {}) as Record<string, unknown>
    const unknown = Object.keys(e).filter((key) => !FIELDS.has(key))
    if (unknown.length > 0) return env.problems.push(`${where}: unknown field(s) ${unknown.join(', ')}; allowed: server, tools, effect, groups, roles`)
    const names = (value: unknown): string[] | undefined => Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && NAME.test(v)) ? value as string[] : undefined
    if (typeof e.server !== 'string' || !(e.server === '*' || /^[a-z0-9][a-z0-9-]{0,62}$/.test(e.server))) return env.problems.push(`${where}: "server" must be a server id or "*"`)
    const tools = names(e.tools)
    if (tools === undefined) return env.problems.push(`${where}: "tools" must be a non-empty list of tool names or patterns ("*" matches any characters)`)
    if (e.effect !== 'allow' && e.effect !== 'deny') return env.problems.push(`${where}: "effect" must be "allow" or "deny"`)
    const rule: ToolFilterRule = { server: e.server, tools, effect: e.effect }
    if (e.groups !== undefined) {
      const groups = names(e.groups)
      if (groups === undefined) return env.problems.push(`${where}: "groups" must be a non-empty list of group object ids`)
      rule.groups = groups
    }
    if (e.roles !== undefined) {
      const roles = names(e.roles)
      if (roles === undefined) return env.problems.push(`${where}: "roles" must be a non-empty list of app-role values`)
      rule.roles = roles
    }
    rules.push(rule)
  })
  return rules
}
