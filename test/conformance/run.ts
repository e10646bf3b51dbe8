// `npm run conformance`: the conformance suite's server scenarios against each server directly and through the
// relay's /mcp/<server>, printed side by side. Exit code 1 when the relay loses a scenario the server passes.
import { REQUIRED_SCENARIOS, runConformance, type ScenarioResult } from '../helpers/conformance.ts'
import { startConformanceStack } from './stack.ts'

const cell = (result: ScenarioResult | undefined): string => result === undefined ? '—' : `${result.ok ? 'pass' : 'FAIL'} (${result.passed}/${result.passed + result.failed})`

const conformance = await startConformanceStack()
let lost = 0
try {
  for (const target of conformance.targets) {
    const direct = await runConformance(target.direct)
    const relayed = await runConformance(target.relayed)
    const scenarios = [...new Set([...direct.keys(), ...relayed.keys()])].sort()
    const width = Math.max(...scenarios.map((s) => s.length)) + 2
    process.stdout.write(`\n${target.name}: ${target.direct} directly vs through the relay (/mcp/${target.name})\n`)
    process.stdout.write(`${'scenario'.padEnd(width)}${'direct'.padEnd(16)}relay\n`)
    for (const scenario of scenarios) {
      const d = direct.get(scenario)
      const r = relayed.get(scenario)
      const regressed = d?.ok === true && r?.ok !== true
      if (regressed) lost++
      const required = (REQUIRED_SCENARIOS as readonly string[]).includes(scenario) ? ' (required)' : ''
      process.stdout.write(`${scenario.padEnd(width)}${cell(d).padEnd(16)}${cell(r)}${regressed ? '  <- lost through the relay' : ''}${required}\n`)
    }
    const passes = (m: Map<string, ScenarioResult>) => [...m.values()].filter((r) => r.ok).length
    process.stdout.write(`passed: direct ${passes(direct)}/${direct.size}, relay ${passes(relayed)}/${relayed.size}\n`)
  }
} finally {
  await conformance.close()
}
process.stdout.write(lost === 0 ? '\nno scenario lost through the relay\n' : `\n${lost} scenario(s) lost through the relay\n`)
process.exit(lost === 0 ? 0 : 1)
