import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/container/**/*.test.ts'],
    // Integration tests start real processes (registry binary, dig, upstream servers); each picks free ports.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ['default', 'json'],
    outputFile: { json: '.mesh-dns/test-results.json' },
    // Every test process: sockets to anything but loopback throw; mesh-dns gets a loopback resolv.conf.
    setupFiles: ['test/support/loopback-guard.ts'],
  },
});
