// Certificates generated at start: a dev CA, the emulator's TLS server certificate, self-signed
// certificates for token signing keys (published as x5c) and for client credentials in tests.
// @peculiar/x509 needs a Reflect metadata polyfill loaded before it.
import 'reflect-metadata'
import { createHash, randomBytes, type webcrypto as nodeWebcrypto } from 'node:crypto'
import { isIP } from 'node:net'
import * as x509 from '@peculiar/x509'

const webcrypto = globalThis.crypto
x509.cryptoProvider.set(webcrypto)

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
export const RSA_SHA256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const

const DAY_MS = 24 * 60 * 60 * 1000

export interface DevCa {
  caPem: string
  cert: x509.X509Certificate
  keys: nodeWebcrypto.CryptoKeyPair
}

export interface PemCredential {
  certPem: string
  privateKeyPem: string
}

/** A certificate for private_key_jwt client credentials, with the thumbprints MSAL's `clientCertificate` takes (hex). */
export interface ClientCertificate extends PemCredential {
  thumbprintSha1: string
  thumbprintSha256: string
}

function serialNumber (): string {
  // Positive 16-byte serial: clear the sign bit.
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0] ?? 0) & 0x7f
  return bytes.toString('hex')
}

function validity (days: number): { notBefore: Date, notAfter: Date } {
  const now = Date.now()
  return { notBefore: new Date(now - DAY_MS), notAfter: new Date(now + days * DAY_MS) }
}

export async function privateKeyToPem (key: nodeWebcrypto.CryptoKey): Promise<string> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', key)
  return x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')
}

export async function createDevCa (): Promise<DevCa> {
  const keys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=obo-relay dev CA ${randomBytes(4).toString('hex')}, O=obo-relay dev`,
    keys,
    signingAlgorithm: ECDSA_P256,
    ...validity(30),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  return { caPem: cert.toString('pem'), cert, keys }
}

/** The TLS certificate of the emulator: SAN localhost, 127.0.0.1, ::1 and `hostnames` (names or IPs), signed by the dev CA. */
export async function createServerCertificate (ca: DevCa, hostnames: readonly string[] = []): Promise<PemCredential> {
  const keys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: 'CN=localhost',
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ECDSA_P256,
    ...validity(30),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
        ...hostnames.map((name) => ({ type: isIP(name) === 0 ? 'dns' as const : 'ip' as const, value: name })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  })
  return { certPem: cert.toString('pem'), privateKeyPem: await privateKeyToPem(keys.privateKey) }
}

/** A self-signed RSA certificate (Entra's signing keys and client credentials are RSA). */
export async function createSelfSignedRsa (subject: string, days = 365, window?: { notBefore: Date, notAfter: Date }): Promise<{ cert: x509.X509Certificate, keys: nodeWebcrypto.CryptoKeyPair }> {
  const keys = await webcrypto.subtle.generateKey(RSA_SHA256, true, ['sign', 'verify'])
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: subject,
    keys,
    signingAlgorithm: RSA_SHA256,
    ...(window ?? validity(days)),
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  })
  return { cert, keys }
}

/** `notBefore`/`notAfter` set the validity window (default: from a day ago for a year), e.g. to test expired certificates. */
export async function createClientCertificate (subject = 'CN=obo-relay dev client', window?: { notBefore: Date, notAfter: Date }): Promise<ClientCertificate> {
  const { cert, keys } = await createSelfSignedRsa(subject, 365, window)
  const der = Buffer.from(cert.rawData)
  return {
    certPem: cert.toString('pem'),
    privateKeyPem: await privateKeyToPem(keys.privateKey),
    thumbprintSha1: createHash('sha1').update(der).digest('hex').toUpperCase(),
    thumbprintSha256: createHash('sha256').update(der).digest('hex').toUpperCase(),
  }
}
