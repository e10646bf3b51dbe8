// TOOL_FILTERS enforced per identity, on `/mcp`, `/mcp/:server` and `/v1` alike. The identity is read from the
// user's Entra token for the relay (already validated by the caller chain): `groups` and `roles` claims.
import type { UserAssertion } from '../caller/user-assertion.ts'
import type { ToolFilterRule } from '../config/index.ts'

interface Identity {
  groups: Set<string>
  roles: Set<string>
  /** Too many groups for the token: Entra names a Graph endpoint instead of listing them (`_claim_names`). */
  groupOverage: boolean
}

/** `*` matches any run of characters; nothing else is special. */
function patternOf (glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
}

export class ToolFilter {
  readonly #rules: Array<ToolFilterRule & { patterns: RegExp[] }>

  constructor (rules: readonly ToolFilterRule[]) {
    this.#rules = rules.map((rule) => ({ ...rule, patterns: rule.tools.map(patternOf) }))
  }

  /** The predicate for this user's tools on `serverId`, or undefined when no rule concerns the server (nothing to filter). */
  forServer (user: UserAssertion, serverId: string): ((tool: string) => boolean) | undefined {
    const rules = this.#rules.filter((rule) => rule.server === '*' || rule.server === serverId)
    if (rules.length === 0) return undefined
    const identity = identityOf(user)
    return (tool) => {
      for (const rule of rules) {
        if (!rule.patterns.some((pattern) => pattern.test(tool))) continue
        const match = matches(rule, identity)
        // Fail closed: with a group overage, an allow by group cannot be proven and a deny by group may apply.
        if (match === 'unknown') {
          if (rule.effect === 'deny') return false
          continue
        }
        if (match) return rule.effect === 'allow'
      }
      return true
    }
  }

  allows (user: UserAssertion, serverId: string, tool: string): boolean {
    return this.forServer(user, serverId)?.(tool) ?? true
  }
}

function matches (rule: ToolFilterRule, identity: Identity): boolean | 'unknown' {
  if (rule.groups === undefined && rule.roles === undefined) return true
  if (rule.roles?.some((role) => identity.roles.has(role)) === true) return true
  if (rule.groups !== undefined) {
    if (rule.groups.some((group) => identity.groups.has(group))) return true
    if (identity.groupOverage) return 'unknown'
  }
  return false
}

function identityOf (user: UserAssertion): Identity {
  return { groups: new Set(user.access.groups), roles: new Set(user.access.roles), groupOverage: user.access.groupOverage }
}
