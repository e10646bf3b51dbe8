// The benchmark's table: one row per path, ratios against the first row (direct) and against nginx.
export interface Row {
  label: string
  rps: number
  p50Ms: number
  p99Ms: number
  /** CPU time of the proxying process per request (relay: process.cpuUsage() over IPC; nginx, minimal proxy: /proc). */
  cpuUsPerReq: number | undefined
  requests: number
}

export function ratio (value: number, baseline: number): number {
  return baseline > 0 ? value / baseline : Number.NaN
}

export function median (values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

const fixed = (value: number, digits: number): string => Number.isFinite(value) ? value.toFixed(digits) : '—'

export function formatTable (title: string, rows: readonly Row[], options: { addedMs?: boolean } = {}): string {
  const direct = rows[0]
  const nginx = rows.find((row) => row.label === 'nginx')
  const header = ['path', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', '×direct', '×nginx', ...(options.addedMs === true ? ['added ms'] : [])]
  const body = rows.map((row) => [
    row.label,
    fixed(row.rps, 0),
    fixed(row.p50Ms, 2),
    fixed(row.p99Ms, 2),
    row.cpuUsPerReq === undefined ? '' : fixed(row.cpuUsPerReq, 0),
    direct === undefined ? '' : fixed(ratio(row.rps, direct.rps), 2),
    nginx === undefined || row === nginx || row === direct ? '' : fixed(ratio(row.rps, nginx.rps), 2),
    ...(options.addedMs === true ? [direct === undefined || row === direct ? '' : fixed(1000 / row.rps - 1000 / direct.rps, 3)] : []),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => (cells[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((cell, i) => i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)).join('  ')
  return [title, `  ${line(header)}`, ...body.map((cells) => `  ${line(cells)}`)].join('\n')
}
