// The compose test (test/compose/compose.test.ts): real containers, minutes, one at a time.
// Alone: `npm run test:compose`. As a project of vitest.config.ts it runs after the other tests (groupOrder 2).
import { defineProject } from 'vitest/config'

export default defineProject({
  test: {
    name: 'compose',
    include: ['test/compose/compose.test.ts'],
    // Its phases are printed as they happen (a run of minutes must not look hung).
    disableConsoleIntercept: true,
    testTimeout: 5 * 60_000,
    hookTimeout: 45 * 60_000,
    pool: 'forks',
    fileParallelism: false,
    sequence: { groupOrder: 2 },
  },
})
