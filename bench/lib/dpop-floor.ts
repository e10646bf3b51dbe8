// The floor of S7's DPoP row: the CPU of the one signature check every DPoP request needs (RFC 9449 §4.3: the
// proof's signature by the key in its header). Measured two ways in the bench's own process, with the relay's
// load stopped, on the agent's own key and a real proof: through the library call the relay makes (jose's
// jwtVerify; WebCrypto underneath, partly on libuv's pool, and process.cpuUsage counts every thread), and as
// the bare signature check of node:crypto (synchronous, nothing around it): the least any DPoP request costs.
import { createPublicKey, randomUUID, verify, type JsonWebKey } from 'node:crypto'
import { SignJWT, importJWK, jwtVerify, type JWK } from 'jose'
import { sha256b64url } from '../../src/crypto/hash.ts'

export interface DpopVerifyCost { joseUs: number, bareUs: number }

export async function dpopVerifyCpuUs (o: { privateJwk: JWK, publicJwk: JWK, alg: string, accessToken: string, htu: string, count: number, concurrency: number }): Promise<DpopVerifyCost> {
  if (o.alg !== 'EdDSA') throw new Error(`the floor is measured for EdDSA proofs, not ${o.alg}`)
  const signing = await importJWK(o.privateJwk, o.alg)
  const verifying = await importJWK(o.publicJwk, o.alg)
  const proof = await new SignJWT({ htm: 'GET', htu: o.htu, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ath: sha256b64url(o.accessToken) })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: o.alg, jwk: o.publicJwk }).sign(signing)
  const rounds = Math.max(1, Math.ceil(o.count / o.concurrency))
  const cpuPer = async (round: () => Promise<void> | void): Promise<number> => {
    // Warm-up (JIT, the pool's threads), then the measured rounds.
    for (let i = 0; i < 20; i++) await round()
    const before = process.cpuUsage()
    for (let i = 0; i < rounds; i++) await round()
    const used = process.cpuUsage(before)
    return (used.user + used.system) / (rounds * o.concurrency)
  }
  const joseUs = await cpuPer(async () => { await Promise.all(Array.from({ length: o.concurrency }, async () => await jwtVerify(proof, verifying, { typ: 'dpop+jwt' }))) })
  const [header, payload, signature] = proof.split('.') as [string, string, string]
  const input = Buffer.from(`${header}.${payload}`)
  const sig = Buffer.from(signature, 'base64url')
  const key = createPublicKey({ key: o.publicJwk as JsonWebKey, format: 'jwk' })
  const bareUs = await cpuPer(() => {
    for (let i = 0; i < o.concurrency; i++) if (!verify(null, input, key, sig)) throw new Error('the proof did not verify')
  })
  return { joseUs, bareUs }
}
