// The images' HEALTHCHECK (they have no curl): exits 0 when every URL given answers 2xx in time.
// A bare path is this container's relay: http://127.0.0.1:$PORT<path>. HEALTHCHECK_CA_FILE: a CA for https URLs.
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'

const timeoutMs = 3000
const caFile = process.env.HEALTHCHECK_CA_FILE
const ca = caFile === undefined || caFile === '' ? undefined : readFileSync(caFile, 'utf8')
const localRelay = `http://127.0.0.1:${process.env.PORT || 8080}`

/** Resolves to undefined when healthy, else to the reason. */
function check (target) {
  return new Promise((resolve) => {
    const url = new URL(target, localRelay)
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { timeout: timeoutMs, ...(ca && { ca }) }, (response) => {
      response.resume()
      const ok = response.statusCode >= 200 && response.statusCode < 300
      resolve(ok ? undefined : `${url.href} answered ${response.statusCode}`)
    })
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    request.on('error', (err) => resolve(`${url.href}: ${err.message}`))
    request.end()
  })
}

const failures = (await Promise.all(process.argv.slice(2).map(check))).filter((reason) => reason !== undefined)
if (failures.length > 0) {
  process.stderr.write(`${failures.join('\n')}\n`)
  process.exit(1)
}
