// Tool arguments mirrored into `Mcp-Param-{Name}` headers through the `x-mcp-header` schema annotation.
import { HEADERS } from './protocol.ts'
import { decodeHeaderValue, encodeHeaderValue, headerNames, readHeader, type HeaderSource } from './header-values.ts'
import type { JsonObject, Tool } from './types.ts'
import { isJsonObject } from '../json-object.ts'

const ANNOTATION = 'x-mcp-header'
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const PRIMITIVE_TYPES = new Set(['string', 'integer', 'boolean'])

/** One mirrored argument: the header's name part, the `properties` path to the argument, its declared type. */
export interface HeaderAnnotation {
  name: string
  path: string[]
  type: 'string' | 'integer' | 'boolean'
}

/** Every schema object under `schema` (through any keyword), with the `properties` path when it is statically reachable. */
function * walkSchemas (schema: JsonObject, path: string[] | undefined): Generator<{ schema: JsonObject, path: string[] | undefined }> {
  yield { schema, path }
  for (const [keyword, value] of Object.entries(schema)) {
    if (keyword === 'properties' && isJsonObject(value)) {
      for (const [property, child] of Object.entries(value)) {
        if (isJsonObject(child)) yield * walkSchemas(child, path === undefined ? undefined : [...path, property])
      }
    } else if (keyword !== ANNOTATION) {
      yield * walkNested(value)
    }
  }
}

function * walkNested (value: unknown): Generator<{ schema: JsonObject, path: string[] | undefined }> {
  if (Array.isArray(value)) {
    for (const item of value) yield * walkNested(item)
  } else if (isJsonObject(value)) {
    yield * walkSchemas(value, undefined)
  }
}

/**
 * The `x-mcp-header` annotations of a tool's input schema, or the reason the tool definition is invalid.
 * @see basic/transports/streamable-http.mdx § Schema Extension, server/tools.mdx § x-mcp-header
 */
export function readHeaderAnnotations (inputSchema: unknown): { annotations: HeaderAnnotation[] } | { invalid: string } {
  if (!isJsonObject(inputSchema)) return { invalid: 'inputSchema is not an object' }
  const annotations: HeaderAnnotation[] = []
  const seen = new Set<string>()
  for (const { schema, path } of walkSchemas(inputSchema, [])) {
    if (!(ANNOTATION in schema)) continue
    const name = schema[ANNOTATION]
    if (path === undefined || path.length === 0) return { invalid: `${ANNOTATION} outside a statically reachable property` }
    const at = path.join('.')
    if (typeof name !== 'string' || !TOKEN.test(name)) return { invalid: `${ANNOTATION} of ${at} is not an HTTP token` }
    if (seen.has(name.toLowerCase())) return { invalid: `${ANNOTATION} ${name} is not unique` }
    const type = schema['type']
    if (typeof type !== 'string' || !PRIMITIVE_TYPES.has(type)) return { invalid: `${ANNOTATION} of ${at} is on a property that is not string, integer or boolean` }
    seen.add(name.toLowerCase())
    annotations.push({ name, path, type: type as HeaderAnnotation['type'] })
  }
  return { annotations }
}

/** Why a tool must be dropped from a `tools/list` result, or undefined when its header annotations are valid. */
export function invalidToolReason (tool: Tool): string | undefined {
  const read = readHeaderAnnotations(tool.inputSchema)
  return 'invalid' in read ? read.invalid : undefined
}

function valueAt (args: unknown, path: string[]): unknown {
  let value = args
  for (const key of path) {
    if (!isJsonObject(value) || !Object.hasOwn(value, key)) return undefined
    value = value[key]
  }
  return value
}

/** The string a present argument value is mirrored as, or undefined for a value no header can carry. */
function headerStringOf (value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  return undefined
}

/**
 * The `Mcp-Param-*` headers a client must add to a `tools/call` of `tool` with `args`; absent and `null`
 * values get no header. Throws TypeError for a value a header cannot carry (non-integer number, object).
 * @see basic/transports/streamable-http.mdx § Client Behavior
 */
export function mcpParamHeadersFor (tool: Tool, args: JsonObject | undefined): Record<string, string> {
  const read = readHeaderAnnotations(tool.inputSchema)
  if ('invalid' in read) throw new TypeError(`tool ${tool.name} is invalid: ${read.invalid}`)
  const headers: Record<string, string> = {}
  for (const annotation of read.annotations) {
    const value = valueAt(args, annotation.path)
    if (value === undefined || value === null) continue
    const text = headerStringOf(value)
    if (text === undefined) throw new TypeError(`argument ${annotation.path.join('.')} cannot be sent in a header`)
    headers[`Mcp-Param-${annotation.name}`] = encodeHeaderValue(text)
  }
  return headers
}

function sameValue (header: string, body: unknown, type: HeaderAnnotation['type']): boolean {
  // Integers compare numerically (`42.0` equals `42`). @see basic/transports/streamable-http.mdx § Server Validation
  if (type === 'integer' && typeof body === 'number') return header.trim() !== '' && Number(header) === body
  return headerStringOf(body) === header
}

/**
 * What is wrong with the `Mcp-Param-*` headers of a `tools/call` of `tool` with `args`, or undefined when they
 * match the body. Headers the tool does not declare are not ours to judge and are ignored.
 * @see basic/transports/streamable-http.mdx § Server Behavior for Custom Headers
 */
export function checkMcpParamHeaders (headers: HeaderSource, tool: Tool, args: JsonObject | undefined): string | undefined {
  const read = readHeaderAnnotations(tool.inputSchema)
  if ('invalid' in read) return undefined
  const present = new Set(headerNames(headers))
  for (const annotation of read.annotations) {
    const headerName = `${HEADERS.paramPrefix}${annotation.name.toLowerCase()}`
    const value = valueAt(args, annotation.path)
    const raw = present.has(headerName) ? readHeader(headers, headerName) : undefined
    if (value === undefined || value === null) {
      if (raw !== undefined) return `Mcp-Param-${annotation.name} header sent for an absent argument`
      continue
    }
    if (raw === undefined) return `Mcp-Param-${annotation.name} header is required`
    const decoded = decodeHeaderValue(raw)
    if (decoded === undefined) return `Mcp-Param-${annotation.name} header is malformed`
    if (!sameValue(decoded, value, annotation.type)) return `Mcp-Param-${annotation.name} header does not match the argument`
  }
  return undefined
}
