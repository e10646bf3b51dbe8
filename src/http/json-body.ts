// JSON request bodies: Fastify's own parser (prototype-poisoning protection), then a nesting-depth bound, so
// a deeply nested body is a clear 400 and never a stack overflow further down (validation, the MCP SDK).
import type { FastifyInstance } from 'fastify'
import { relayError } from '../errors.ts'

/** The nesting depth of a parsed JSON value, walked without recursion; stops counting past `limit`. */
export function jsonDepthExceeds (value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number]
    if (typeof current !== 'object' || current === null) continue
    if (depth > limit) return true
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1])
    }
  }
  return false
}

export function jsonBodyParser (app: FastifyInstance, options: { maxDepth: number }): void {
  const parse = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parse(request, typeof body === 'string' ? body : body.toString('utf8'), (err, value) => {
      if (err !== null) {
        done(relayError('json_invalid', 'The request body is not valid JSON.'), undefined)
        return
      }
      if (jsonDepthExceeds(value, options.maxDepth)) {
        done(relayError('json_too_deep', `The request body nests deeper than ${options.maxDepth} levels.`), undefined)
        return
      }
      done(null, value)
    })
  })
}
