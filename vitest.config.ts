import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The compose test runs real containers for minutes: `npm run test:compose` (vitest.compose.config.ts).
    exclude: [...configDefaults.exclude, 'test/compose/compose.test.ts'],
    // To run it in `npm test` too, alone and after all other tests, uncomment (explicit groupOrders: with one
    // worker, as on 2 cores, vitest runs a groupOrder-0 project after every other group):
    // projects: [{ extends: true, test: { name: 'unit', sequence: { groupOrder: 1 } } }, './vitest.compose.config.ts'],
    // Every suite starts real servers (HTTPS emulator, MCP servers): give them room, but bounded.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
})
