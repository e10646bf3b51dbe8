// Caller authentication as one chain, applied by route: every route declares `config.auth`, and a route
// that forgets is refused when the app starts, so no new route is ever open by accident.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AgentGrantRef } from '../caller/relay-token.ts'
import type { UserAssertion } from '../caller/user-assertion.ts'
import { relayError } from '../errors.ts'

/** `public`: anyone; `caller`: any strategy (API routes); `browser`: the browser session only (pages). */
export type RouteAuth = 'public' | 'caller' | 'browser'

export type CallerKind = 'entra_bearer' | 'session' | 'agent'

export interface Caller {
  kind: CallerKind
  user: UserAssertion
  /** The scheme of the credential, so challenges answer in kind (RFC 9449 §7.1). */
  scheme: 'Bearer' | 'DPoP'
  /** An agent (relay-issued token): the grant it acts under. */
  grant?: AgentGrantRef
  /** A fresher DPoP nonce to send back (`DPoP-Nonce`, RFC 9449 §8.2). */
  dpopNonce?: string
  /** When the credential expires (epoch seconds): a stream it opened ends then. */
  expiresAt?: number
  /** Whether the credential still holds (not revoked, not signed out): asked again while a stream it opened lasts. */
  stillValid?: () => Promise<boolean>
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth
  }
  interface FastifyRequest {
    caller: Caller | undefined
  }
}

/** One way of proving who calls. `undefined`: this request carries no credential of this kind. */
export interface CallerStrategy {
  kind: CallerKind
  /** Which route kinds it serves (`browser` routes take only cookie strategies). */
  serves: ReadonlySet<Exclude<RouteAuth, 'public'>>
  authenticate: (request: FastifyRequest) => Promise<Caller | undefined>
  /**
   * Without waiting: the caller of a credential this strategy validated before and still holds, `'pass'` when the
   * request carries no credential of its kind, undefined when only `authenticate` can tell.
   */
  remembered?: (request: FastifyRequest) => Caller | 'pass' | undefined
}

export interface AuthChainOptions {
  strategies: readonly CallerStrategy[]
}

/**
 * Registers the chain: an `onRequest` hook (before any body is read) that runs the strategies in order;
 * the first one that recognises a credential decides (a bad credential is refused, never passed on).
 */
export function authChain (app: FastifyInstance, options: AuthChainOptions): void {
  app.decorateRequest('caller', undefined)
  const authenticate = async (request: FastifyRequest, auth: Exclude<RouteAuth, 'public'>): Promise<void> => {
    for (const strategy of options.strategies) {
      if (!strategy.serves.has(auth)) continue
      const caller = await strategy.authenticate(request)
      if (caller !== undefined) {
        request.caller = caller
        return
      }
    }
    throw relayError('credentials_missing', auth === 'browser'
      ? 'Sign in at /auth/login.'
      : 'Sign in at /auth/login or send an Entra access token for the relay.', { intent: { kind: 'sign_in' } })
  }
  /** The strategies in order, as far as each can answer without waiting: a remembered caller, else undefined. */
  const remembered = (request: FastifyRequest, auth: Exclude<RouteAuth, 'public'>): Caller | undefined => {
    for (const strategy of options.strategies) {
      if (!strategy.serves.has(auth)) continue
      const found = strategy.remembered?.(request)
      if (found === 'pass') continue
      return found
    }
    return undefined
  }
  // With `done`: a public route, or a credential validated before (the hot path), goes on without a promise; the
  // others wait for their strategies.
  app.addHook('onRequest', (request, _reply, done) => {
    const auth = request.routeOptions.config.auth
    if (auth === undefined || auth === 'public') {
      done()
      return
    }
    const caller = remembered(request, auth)
    if (caller !== undefined) {
      request.caller = caller
      done()
      return
    }
    authenticate(request, auth).then(() => { done() }, (err: unknown) => { done(err as Error) })
  })
}

/** From here on, every route must say how it authenticates; one that does not stops the app from starting. */
export function requireRouteAuth (app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    // @fastify/cors's catch-all preflight route (encapsulated CORS plugins): it only answers preflights, never authenticates.
    if (route.method === 'OPTIONS' && route.url.endsWith('*') && route.config?.auth === undefined) return
    const auth = route.config?.auth
    if (auth !== 'public' && auth !== 'caller' && auth !== 'browser') {
      throw new Error(`route ${String(route.method)} ${route.url} must declare config.auth ('public', 'caller' or 'browser')`)
    }
  })
}

/** The caller of an authenticated route (the chain guarantees one). */
export function callerOf (request: FastifyRequest): Caller {
  if (request.caller === undefined) throw new Error(`route ${request.routeOptions.url ?? ''} used callerOf without authentication`)
  return request.caller
}
