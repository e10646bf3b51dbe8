// A DPoP-bound relay token for S7, obtained the way an agent does: the relay's agent client registers, pushes
// its authorization request, and a scripted browser allows on the relay's consent page and signs in at the
// emulator; then a nonce is fetched from the resource (RFC 9449 §9) for the load generator's proofs.
import { randomUUID, type webcrypto } from 'node:crypto'
import { SignJWT, importJWK, type JWK } from 'jose'
import { RelayAgentClient, type CredentialStore, type StoredCredentials } from '../../cli/client/index.ts'
import { createDispatcher, createFetch } from '../../src/net/http-client.ts'
import { sha256b64url } from '../../src/crypto/hash.ts'
import { HttpBrowser, parseForm } from '../../test/helpers/browser.ts'

export interface DpopAgent {
  accessToken: string
  dpop: { privateJwk: JWK, publicJwk: JWK, alg: string }
  nonce: string
}

function memoryStore (): CredentialStore {
  let saved: StoredCredentials | undefined
  return {
    path: 'memory',
    load: async () => saved,
    save: async (credentials) => { saved = credentials },
    remove: async () => { saved = undefined },
    withLock: async (work) => await work(),
  }
}

export async function loginAgentWithDpop (o: { relayUrl: string, emulatorCaPem: string, username: string, password: string }): Promise<DpopAgent> {
  const relayOrigin = new URL(o.relayUrl).origin
  const browser = new HttpBrowser(createFetch(createDispatcher({ trustedCaPem: o.emulatorCaPem })))
  const store = memoryStore()
  const client = new RelayAgentClient({ relayUrl: o.relayUrl, store, clientName: 'obo-relay bench' })
  let emulatorOrigin: string | undefined
  const leaves = (url: string): boolean => { const origin = new URL(url).origin; return origin !== relayOrigin && origin !== emulatorOrigin }
  await client.loginWithBrowser({
    openUrl: async (startUrl) => {
      let { response, url } = await browser.follow(startUrl, { stopAt: (next) => new URL(next).origin !== relayOrigin })
      if (response.status === 200 && url.includes('/oauth/interaction/')) {
        const form = parseForm(await response.text(), url)
        const allowed = await browser.request(form.action, { method: 'POST', body: new URLSearchParams(form.fields), headers: { origin: relayOrigin } })
        if (allowed.status !== 303) throw new Error(`the consent page answered ${allowed.status}`)
        url = new URL(allowed.headers.get('location') ?? '', form.action).href
        ;({ response, url } = await browser.follow(url, { stopAt: (next) => new URL(next).origin !== relayOrigin }))
      }
      // The relay sent the browser to Entra (the emulator): its sign-in form, then its consent prompt if any.
      emulatorOrigin = new URL(url).origin
      if (response.status === 302) response = await browser.request(url)
      let page = response
      let pageUrl = url
      for (let step = 0; page.status === 200 && step < 3; step++) {
        const form = parseForm(await page.text(), pageUrl)
        const action = form.fields.emulator_action
        const answer = action === 'consent' ? { consent: 'accept' } : action === 'return_without_consent' ? {} : { username: o.username, password: o.password }
        page = await browser.request(form.action, { method: 'POST', body: new URLSearchParams({ ...form.fields, ...answer }) })
        pageUrl = form.action
      }
      if (page.status !== 302) throw new Error(`the emulator's sign-in answered ${page.status}`)
      const back = new URL(page.headers.get('location') ?? '', pageUrl).href
      const { url: finalUrl } = await browser.follow(back, { stopAt: leaves })
      if (!leaves(finalUrl)) throw new Error(`the sign-in ended at ${finalUrl}, not at the agent`)
      const callback = await browser.request(finalUrl)
      if (callback.status !== 200) throw new Error(`the agent's callback answered ${callback.status}`)
    },
  })
  const credentials = await store.load()
  const accessToken = credentials?.tokens?.access_token
  if (credentials === undefined || accessToken === undefined) throw new Error('the agent login stored no token')
  const privateJwk = credentials.dpopKey as webcrypto.JsonWebKey as JWK
  const publicJwk: JWK = { kty: privateJwk.kty ?? 'OKP', crv: privateJwk.crv ?? 'Ed25519', x: privateJwk.x ?? '' }
  const alg = 'EdDSA'
  // A proof without a nonce is answered with 401 use_dpop_nonce and the nonce to use.
  const key = await importJWK(privateJwk, alg)
  const htu = new URL('/v1/me', o.relayUrl).href
  const proof = await new SignJWT({ htm: 'GET', htu, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ath: sha256b64url(accessToken) })
    .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk: publicJwk }).sign(key)
  const challenge = await fetch(htu, { headers: { authorization: `DPoP ${accessToken}`, dpop: proof } })
  const nonce = challenge.headers.get('dpop-nonce')
  if (nonce === null) throw new Error(`no DPoP nonce from the relay (HTTP ${challenge.status})`)
  return { accessToken, dpop: { privateJwk, publicJwk, alg }, nonce }
}
