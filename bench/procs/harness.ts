// Bench process (started with --expose-gc): S3 and S5 in process, over the relay's real services.
//   S3  OboService.exchange cache hits with 10, 1k, 10k and 100k distinct users (pre-minted assertions, the
//       memory cache with a cap above 100k), filled through exchange() itself with an MSAL stand-in that
//       answers at once (the cache path is the real one; no Entra call is measured).
//   S5  heap after GC per 10k browser sessions, agent grants and cached OBO tokens, minus the bytes of the
//       tokens they must hold. Services come from createServices (memory store) against the bench's emulator;
//       the MSAL cache of every session and grant is a real one (ROPC at the emulator) with its access and
//       refresh token replaced by distinct random strings of the same length.
import { randomBytes, randomUUID } from 'node:crypto'
import { loadConfig } from '../../src/config/index.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { createServices } from '../../src/services.ts'
import { OboService } from '../../src/entra/obo.ts'
import type { MsalFactory } from '../../src/entra/msal.ts'
import { createMemoryOboCache } from '../../src/stores/obo-cache.ts'
import { createMemoryStore, packValue } from '../../src/stores/memory.ts'
import { TokenMemo, userAssertionOf, type UserAssertion } from '../../src/caller/user-assertion.ts'
import type { Store } from '../../src/stores/types.ts'
import { createStoreAdapter } from '../../src/agent-auth/adapter.ts'
import { createKeyring } from '../../src/crypto/keyring.ts'
import { ready, serveIpc } from '../lib/ipc-child.ts'
import { NOTES_SCOPE } from '../lib/constants.ts'

export interface HarnessResult {
  s3?: { cap: number, sizes: Array<{ size: number, nsPerHit: number, controlNs: number }> }
  s5?: { count: number, lines: string[], bytesPerSession: number, bytesPerBrowserSession: number, bytesPerAgentSession: number, bytesPerOboEntry: number }
}

const silent = createLogger('silent')
/** Entra access tokens for an API are 1.2–2 KB; the emulator's run about 1.4 KB. */
const TOKEN_CHARS = 1500
const token = (chars = TOKEN_CHARS): string => randomBytes(Math.ceil(chars * 3 / 4)).toString('base64url').slice(0, chars)

/**
 * Heap in use after full collections, once the event loop has turned: what a WeakRef was dereferenced for is
 * kept until the current job ends, so a count taken inside one long job can charge one phase's garbage to the next.
 */
async function heapAfterGc (): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run the harness with --expose-gc')
  await new Promise((resolve) => setImmediate(resolve))
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/** An MSAL stand-in for cache fills: every On-Behalf-Of answers at once with a fresh token. */
const instantMsal = {
  client: async () => ({
    acquireTokenOnBehalfOf: async () => ({ accessToken: token(), expiresOn: new Date(Date.now() + 3_600_000) }),
  }),
} as unknown as MsalFactory

function assertionFor (i: number): UserAssertion {
  return userAssertionOf({ tid: '11111111-1111-1111-1111-111111111111', oid: randomUUID(), upn: `user${i}@contoso.test`, name: `User ${i}` }, 'entra_bearer', new TokenMemo(token(), Math.floor(Date.now() / 1000) + 3600))
}

async function s3 (quick: boolean): Promise<NonNullable<HarnessResult['s3']>> {
  const cap = 200_000
  const obo = new OboService({ msal: instantMsal, cache: createMemoryOboCache(cap), logger: silent })
  const scopes = [NOTES_SCOPE]
  const sizes = [10, 1_000, 10_000, 100_000]
  const users: UserAssertion[] = []
  const hitsPerRound = quick ? 30_000 : 200_000
  const rounds = quick ? 3 : 7
  const out: Array<{ size: number, nsPerHit: number, controlNs: number }> = []
  for (const size of sizes) {
    while (users.length < size) {
      const user = assertionFor(users.length)
      users.push(user)
      if ((await obo.exchange(user, scopes)).cache !== 'miss') throw new Error('S3: a new assertion was not a miss')
    }
    // Random users among `size`; the indices are drawn before the clock starts.
    const order = Uint32Array.from({ length: hitsPerRound }, () => Math.floor(Math.random() * size))
    const perRound: number[] = []
    for (let round = -1; round < rounds; round++) {
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < hitsPerRound; i++) {
        const result = await obo.exchange(users[order[i] as number] as UserAssertion, scopes)
        if (result.cache !== 'hit') throw new Error('S3: a cached assertion missed')
      }
      const ns = Number(process.hrtime.bigint() - t0) / hitsPerRound
      if (round >= 0) perRound.push(ns)
    }
    perRound.sort((a, b) => a - b)
    // Control: the same random walk over a plain Map holding one object per user (no OBO service): what
    // touching `size` entries costs in memory alone on this machine.
    const plain = new Map<string, { expiresAt: number }>()
    for (let i = 0; i < size; i++) plain.set(`${i}|${NOTES_SCOPE}`, { expiresAt: Date.now() })
    const keys = Array.from({ length: size }, (_, i) => `${i}|${NOTES_SCOPE}`)
    const controlRounds: number[] = []
    let sink = 0
    for (let round = -1; round < rounds; round++) {
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < hitsPerRound; i++) sink += plain.get(keys[order[i] as number] as string)?.expiresAt ?? 0
      if (round >= 0) controlRounds.push(Number(process.hrtime.bigint() - t0) / hitsPerRound)
    }
    if (sink === 42) process.stdout.write('')
    controlRounds.sort((a, b) => a - b)
    out.push({ size, nsPerHit: perRound[Math.floor(perRound.length / 2)] as number, controlNs: controlRounds[Math.floor(controlRounds.length / 2)] as number })
  }
  return { cap, sizes: out }
}

/** MSAL's cache after one real ROPC sign-in, as a template; `fresh()` gives it distinct access and refresh tokens. */
async function msalCacheTemplate (services: Awaited<ReturnType<typeof createServices>>, username: string, password: string): Promise<{ fresh: () => string, homeAccountId: string, tokenBytes: number, accessTokenBytes: number }> {
  const client = await services.msal.client()
  const result = await client.acquireTokenByUsernamePassword({ scopes: [services.config.relayScope], username, password })
  if (result?.account === null || result === null) throw new Error('S5: ROPC at the emulator gave no account')
  const template = JSON.parse(client.getTokenCache().serialize()) as Record<string, Record<string, { secret?: string }>>
  let tokenBytes = 0
  const accessTokenBytes = Object.values(template.AccessToken ?? {}).reduce((sum, entry) => sum + (entry.secret?.length ?? 0), 0)
  for (const section of ['AccessToken', 'RefreshToken', 'IdToken']) {
    for (const entry of Object.values(template[section] ?? {})) tokenBytes += entry.secret?.length ?? 0
  }
  return {
    homeAccountId: result.account.homeAccountId,
    tokenBytes,
    accessTokenBytes,
    fresh: () => {
      const copy = structuredClone(template)
      for (const section of ['AccessToken', 'RefreshToken']) {
        for (const entry of Object.values(copy[section] ?? {})) if (entry.secret !== undefined) entry.secret = token(entry.secret.length)
      }
      return JSON.stringify(copy)
    },
  }
}

/**
 * The store as the services use it, plus the sizes of what is written while `recording` (by key kind: the key
 * up to its last `:`, e.g. `oidc:AccessToken`; sets as their members' bytes).
 */
function recordingStore (inner: Store): { store: Store, written: { recording: boolean, sizes: Map<string, number> } } {
  const written = { recording: false, sizes: new Map<string, number>() }
  const note = (key: string, bytes: number): void => {
    if (!written.recording) return
    const kind = key.slice(0, key.lastIndexOf(':')).replace(/^(oidc:\w+):grant$/, '$1 grant index') || key
    written.sizes.set(kind, (written.sizes.get(kind) ?? 0) + bytes)
  }
  const store: Store = {
    ...inner,
    set: async (key, value, ttlMs) => { note(key, value.length); await inner.set(key, value, ttlMs) },
    setIfAbsent: async (key, value, ttlMs) => { note(key, value.length); return await inner.setIfAbsent(key, value, ttlMs) },
    compareAndSet: async (key, expected, next, ttlMs) => { note(key, next?.length ?? 0); return await inner.compareAndSet(key, expected, next, ttlMs) },
    setAdd: async (key, members, ttlMs) => { note(key, members.reduce((sum, m) => sum + m.length, 0)); await inner.setAdd(key, members, ttlMs) },
  }
  return { store, written }
}

async function s5 (quick: boolean, username: string, password: string): Promise<NonNullable<HarnessResult['s5']>> {
  const count = quick ? 1_000 : 10_000
  const warmup = count / 100
  const per10k = (bytesEach: number): number => bytesEach * 10_000
  const env = JSON.parse(process.env.BENCH_RELAY_ENV ?? '{}') as Record<string, string>
  const config = loadConfig(env)
  // A store that holds everything this test creates (the default memory store keeps 100k entries).
  // Both stores are one memory store, seen through a window that can list what one grant writes (its value sizes).
  const { store, written } = recordingStore(createMemoryStore({ maxEntries: 2_000_000 }))
  const services = await createServices({ config, logger: silent, store, transientStore: store })
  const lines: string[] = []
  try {
    const template = await msalCacheTemplate(services, username, password)
    const tid = config.tenantId
    // Every session and grant is another user's (the worst case: nothing per user is shared), signed in with the
    // template's MSAL cache; the memo is made from the record as a request reads it from the store.
    const someone = (i: number) => ({ oid: randomUUID(), upn: `user${i}@contoso.test`, name: `User ${i}` })

    // Browser sessions: record + sealed MSAL partition in the store, the relay-scoped token's memo in memory (MSAL silent).
    const newSession = async (i: number): Promise<string> => {
      const id = await services.sessions.create({ tid, ...someone(i), homeAccountId: template.homeAccountId, createdAt: Date.now() })
      await services.sessions.savePartition(id, template.fresh())
      const record = await services.sessions.get(id)
      if (record === undefined) throw new Error('S5: a session just made was not found')
      await services.sessions.userAssertion(id, record)
      return id
    }
    // A warm-up first: what the first ones allocate once (code, lazily made tables) is no session's cost. The
    // bench's own array of ids is made before the count starts.
    for (let i = 0; i < warmup; i++) await newSession(count + i)
    const sessionIds = new Array<string>(count).fill('')
    let before = await heapAfterGc()
    for (let i = 0; i < count; i++) sessionIds[i] = await newSession(i)
    const browserBytes = (await heapAfterGc() - before) / count
    // The raw session ids are the browsers' (cookies), not the relay's: not counted.
    const idBytes = sessionIds.reduce((sum, id) => sum + id.length + 16, 0) / count
    const browserOverhead = browserBytes - idBytes - template.tokenBytes
    lines.push(`  browser session  ${(per10k(browserBytes - idBytes) / 1e6).toFixed(1)} MB per 10k = ${(browserBytes - idBytes).toFixed(0)} B each, of which tokens ${template.tokenBytes} B (access, refresh, id token) → ${browserOverhead.toFixed(0)} B beyond the tokens`)
    // Where it goes: the MSAL cache (its JSON around the tokens), sealed as base64url text. The relay-scoped
    // token's memo keeps the token's hash, not a second copy of the token.
    const cacheJson = template.fresh()
    // As the sessions' partitions are sealed (compressed, then sealed as base64url text; the length does not depend on the key).
    const sealedText = createKeyring({ current: config.tokenEncryptionKey, purpose: 'bench', compress: true }).seal(cacheJson, 'bench')
    lines.push(`    of which: MSAL cache JSON ${cacheJson.length} B (tokens ${template.tokenBytes} B) sealed as ${sealedText.length} B of text, held by the memory store as its bytes in ${packValue(sealedText).length} B; the memo holds the access token's hash (${template.accessTokenBytes} B of token not held twice)`)
    sessionIds.length = 0

    // Agent grants (mode B): the provider's Grant, access and refresh token records (sealed, by the adapter),
    // the grant record, its sealed MSAL partition, the account's index and profile, the relay-scoped token memo.
    const { provider, grants } = services.agentAuth
    const clientId = `bench-${randomUUID()}`
    // Registered as RFC 7591 registration leaves it: through the adapter oidc-provider reads clients with.
    const adapter = createStoreAdapter({ stores: { durable: services.store, transient: services.transientStore }, keyring: createKeyring({ current: config.tokenEncryptionKey, previous: config.tokenEncryptionKeyPrevious, purpose: 'oidc-provider-store' }), onConcurrentReuse: async () => {} })
    await adapter('Client').upsert(clientId, {
      client_id: clientId,
      client_name: 'bench agent',
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      dpop_bound_access_tokens: true,
    }, 86_400)
    const client = await provider.Client.find(clientId)
    if (client === undefined) throw new Error('S5: the bench client was not found')
    const resource = `${config.publicUrl.origin}/v1`
    const scope = 'tools:read tools:call'
    const resourceServer = { audience: resource, scope, accessTokenFormat: 'opaque' as const }
    const jkt = randomBytes(32).toString('base64url')
    const newGrant = async (held: string[], i: number, userIndex: number): Promise<void> => {
      const user = someone(userIndex)
      const accountId = `${tid}.${user.oid}`
      const grant = new provider.Grant({ accountId, clientId })
      grant.addResourceScope(resource, scope)
      const grantId = await grant.save()
      const at = new provider.AccessToken({ accountId, client, grantId, scope, gty: 'authorization_code', resourceServer, extra: {} } as never)
      ;(at as unknown as { setThumbprint: (kind: string, value: string) => void }).setThumbprint?.('jkt', jkt)
      held[2 * i] = await at.save()
      const rt = new provider.RefreshToken({ accountId, client, grantId, scope, gty: 'authorization_code', resource, rotations: 0, iiat: Math.floor(Date.now() / 1000) } as never)
      held[2 * i + 1] = await rt.save()
      await grants.save({
        grantId,
        accountId,
        tid,
        ...user,
        homeAccountId: template.homeAccountId,
        clientId,
        clientName: 'bench agent',
        redirectHost: '127.0.0.1',
        resources: [resource],
        scopes: scope.split(' '),
      }, { tid, ...user, homeAccountId: template.homeAccountId, serializedCache: template.fresh() })
      const record = await grants.get(grantId)
      if (record === undefined) throw new Error('S5: a grant just saved was not found')
      await grants.userAssertion(record)
    }
    const warm: string[] = []
    for (let i = 0; i < warmup; i++) await newGrant(warm, i, count + i)
    const held = new Array<string>(count * 2).fill('')
    before = await heapAfterGc()
    for (let i = 0; i < count; i++) {
      // The last grant's writes are listed below (where an agent grant's bytes go).
      written.recording = i === count - 1
      await newGrant(held, i, i)
    }
    const agentBytes = (await heapAfterGc() - before) / count
    // The opaque tokens themselves are the agent's; only their hashes and payloads stay in the relay.
    const heldBytes = held.reduce((sum, t) => sum + t.length + 16, 0) / count
    const agentOverhead = agentBytes - heldBytes - template.tokenBytes
    lines.push(`  agent grant      ${(per10k(agentBytes - heldBytes) / 1e6).toFixed(1)} MB per 10k = ${(agentBytes - heldBytes).toFixed(0)} B each, of which tokens ${template.tokenBytes} B (the grant's Entra access, refresh, id token) → ${agentOverhead.toFixed(0)} B beyond the tokens`)
    held.length = 0
    written.recording = false
    lines.push(`    of which, written for one grant: ${[...written.sizes].map(([what, bytes]) => `${what} ${bytes} B`).join(', ')}`)

    // OBO tokens: the memory cache as createServices builds it, filled through exchange().
    const obo = new OboService({ msal: instantMsal, cache: createMemoryOboCache(count * 2), logger: silent })
    const users = Array.from({ length: count }, (_, i) => assertionFor(i))
    before = await heapAfterGc()
    for (const user of users) await obo.exchange(user, [NOTES_SCOPE])
    const oboBytes = (await heapAfterGc() - before) / count
    const oboOverhead = oboBytes - TOKEN_CHARS
    lines.push(`  OBO cache entry  ${(per10k(oboBytes) / 1e6).toFixed(1)} MB per 10k = ${oboBytes.toFixed(0)} B each, of which the token ${TOKEN_CHARS} B → ${oboOverhead.toFixed(0)} B beyond the token`)
    return {
      count,
      lines,
      bytesPerSession: Math.max(browserOverhead, agentOverhead),
      bytesPerBrowserSession: browserOverhead,
      bytesPerAgentSession: agentOverhead,
      bytesPerOboEntry: oboOverhead,
    }
  } finally {
    await services.close()
  }
}

serveIpc({
  run: async ({ quick, s3: runS3, s5: runS5, users, password }: { quick: boolean, s3: boolean, s5: boolean, users: string, password: string }): Promise<HarnessResult> => ({
    ...(runS3 ? { s3: await s3(quick) } : {}),
    ...(runS5 ? { s5: await s5(quick, users, password) } : {}),
  }),
})
ready()
