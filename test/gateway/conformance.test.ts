// The MCP conformance suite's server scenarios through the relay's /mcp/<server> (issue 11): every required
// scenario passes through the relay (the reference server where it passes them directly, our fixture for the
// rest), and no scenario a server passes directly is lost through the relay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REQUIRED_SCENARIOS, runConformance, type ScenarioResult } from '../helpers/conformance.ts'
import { startConformanceStack, type ConformanceStack } from '../conformance/stack.ts'

let conformance: ConformanceStack
const results = new Map<string, { direct: Map<string, ScenarioResult>, relayed: Map<string, ScenarioResult> }>()

beforeAll(async () => {
  conformance = await startConformanceStack()
  for (const target of conformance.targets) {
    results.set(target.name, { direct: await runConformance(target.direct), relayed: await runConformance(target.relayed) })
  }
}, 240_000)
afterAll(async () => { await conformance?.close() })

const passing = (m: Map<string, ScenarioResult> | undefined) => [...(m ?? new Map<string, ScenarioResult>()).entries()].filter(([, r]) => r.ok).map(([s]) => s).sort()

describe('MCP conformance suite through /mcp/<server>', () => {
  it.each(['everything', 'fixture'])('%s: every scenario that passes directly passes through the relay', (name) => {
    const { direct, relayed } = results.get(name)!
    expect(direct.size).toBeGreaterThan(20)
    const lost = passing(direct).filter((scenario) => relayed.get(scenario)?.ok !== true)
    expect(lost.map((scenario) => `${scenario}: ${relayed.get(scenario)?.errors.join('; ') ?? 'not run'}`)).toEqual([])
  })

  it.each([...REQUIRED_SCENARIOS])('required scenario %s passes through the relay', (scenario) => {
    const everything = results.get('everything')!
    // The reference server where it passes the scenario itself; else the fixture written to pass it.
    const target = everything.direct.get(scenario)?.ok === true ? everything : results.get('fixture')!
    expect(target.direct.get(scenario)?.ok, target.direct.get(scenario)?.errors.join('; ')).toBe(true)
    expect(target.relayed.get(scenario)?.ok, target.relayed.get(scenario)?.errors.join('; ')).toBe(true)
  })

  it('the relay protects against DNS rebinding even where the reference server does not', () => {
    expect(results.get('everything')!.direct.get('dns-rebinding-protection')?.ok).toBe(false)
    expect(results.get('everything')!.relayed.get('dns-rebinding-protection')?.ok).toBe(true)
  })
})
