// `npm run bench -- --quick` completes by itself and ends with a BENCH line whose every key is a finite number.
// Targets are reported by the benchmark, never asserted here: a slow machine must not fail this test.
import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'

const KEYS = [
  's1_relay_mcp_vs_direct', 's1_relay_mcp_vs_nginx', 's1_relay_rest_vs_direct',
  's2_relay_vs_direct', 's2_relay_vs_nginx', 's2_relay_vs_minimal_proxy', 's2_added_ms_serial', 's2_relay_cpu_us_per_call',
  's3_hit_cost_100k_vs_10', 's4_entra_calls_one_replica', 's4_entra_calls_two_replicas',
  's5_bytes_per_session', 's5_bytes_per_obo_entry', 's6_first_event_relay_vs_direct', 's7_auth_vs_healthz',
  // The DPoP row's floor (the bare signature check) is printed beside it.
  's7_dpop_vs_healthz', 's7_dpop_ceiling_vs_healthz',
]

describe('npm run bench -- --quick', () => {
  it('completes and prints a BENCH line with every key a finite number', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['bench/run.ts', '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => { stdout += String(chunk) })
      child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + String(chunk)).slice(-20_000) })
      // Bounded: the benchmark stops its own processes on SIGTERM.
      const timer = setTimeout(() => child.kill('SIGTERM'), 145_000)
      child.on('close', (exitCode) => { clearTimeout(timer); resolve({ code: exitCode, stdout, stderr }) })
    })
    expect(code, stderr).toBe(0)
    const lines = stdout.trimEnd().split('\n')
    const last = lines[lines.length - 1] ?? ''
    expect(last.startsWith('BENCH '), stdout.slice(-2000)).toBe(true)
    const bench = JSON.parse(last.slice('BENCH '.length)) as Record<string, unknown>
    for (const key of KEYS) expect(Number.isFinite(bench[key]), `${key} = ${String(bench[key])}`).toBe(true)
  }, 150_000)
})
