// `npm run bench -- --quick --trace-gc`: the whole benchmark (every scenario, the bare dgram loop and
// mesh-dns as shipped in dist/) once, in seconds, so the bench cannot rot unnoticed. Its figures
// are not measurements (one second per server on a shared machine); the test asserts that every
// scenario ran, every answer was of the expected rcode, and the ratios to the floor exist.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { gcPauses } from '../bench/gc-trace.ts';
import { shippedEnvironment, shippedNodeFlags, withEnvironment } from '../bench/servers.ts';
import { skipWithout } from '../support/tools.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MISSING = skipWithout('dnsperf', 'the bench smoke test') || skipWithout('dig', 'the bench smoke test');

interface BenchJson {
  scenarios: { scenario: string; results: { server: string; status: string; reason?: string; cpuPerQueryRatioBare?: number; summary?: { stats: { completed: number }; percentiles?: { p999Ms: number }; gc?: { scavenges: number } } }[] }[];
}

describe.skipIf(MISSING)('npm run bench -- --quick', () => {
  it('runs every scenario for the bare loop and mesh-dns and reports mesh-dns against the floor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    try {
      const json = join(dir, 'bench.json');
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        execFile(process.execPath, ['test/bench/run.ts', '--quick', '--only', 'bare,mesh-dns', '--trace-gc', '--json', json], { cwd: REPO, timeout: 170_000 }, (error, stdout, stderr) => {
          resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, output: stdout + stderr });
        });
      });
      expect(code, output).toBe(0);
      const result = JSON.parse(readFileSync(json, 'utf8')) as BenchJson;
      expect(result.scenarios.map((s) => s.scenario)).toEqual(['mesh-a', 'mesh-negative', 'forward-cache', 'mesh-a-tcp', 'latency']);
      for (const scenario of result.scenarios) {
        const [bare, mesh] = [scenario.results.find((r) => r.server === 'bare'), scenario.results.find((r) => r.server === 'mesh-dns')];
        expect(bare?.status, `${scenario.scenario} bare: ${bare?.reason}`).toBe('ok');
        expect(mesh?.status, `${scenario.scenario} mesh-dns: ${mesh?.reason}`).toBe('ok');
        expect(mesh!.summary!.stats.completed).toBeGreaterThan(0);
        expect(mesh!.cpuPerQueryRatioBare).toBeGreaterThan(0);
        expect(mesh!.summary!.percentiles?.p999Ms).toBeGreaterThan(0);
        // --trace-gc: the measured run's GC pauses are read from each Node server's log.
        expect(mesh!.summary!.gc?.scavenges, scenario.scenario).toBeGreaterThanOrEqual(0);
        expect(bare!.summary!.gc?.scavenges, scenario.scenario).toBeGreaterThanOrEqual(0);
      }
      expect(output).toMatch(/== latency: mesh A at a fixed 2000 qps offered/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('bench helpers', () => {
  it('gcPauses counts the scavenges and full GCs that a real node --trace-gc printed, with their pauses', async () => {
    // A young generation of 1 MiB and 40 MB of short-lived objects: dozens of scavenges; two
    // forced full GCs (--expose-gc) show as Mark-Compact.
    const script = 'let keep = []; for (let i = 0; i < 1e6; i++) { keep.push({ i }); if (keep.length > 100) keep = []; } gc(); gc();';
    const output = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--trace-gc', '--expose-gc', '--max-semi-space-size=1', '-e', script], (error, stdout) => (error ? reject(error) : resolve(stdout)));
    });
    const pauses = gcPauses(output);
    const lines = output.split('\n').filter((line) => / ms: (Scavenge|Mark-Compact)/.test(line));
    expect(pauses.scavenges).toBeGreaterThan(5);
    expect(pauses.other).toBeGreaterThanOrEqual(2);
    expect(pauses.scavenges + pauses.other).toBe(lines.length);
    expect(pauses.scavengeMs).toBeGreaterThan(0);
    expect(pauses.longestScavengeMs).toBeLessThanOrEqual(pauses.scavengeMs);
    expect(gcPauses('[1:0x1]  30 ms: Scavenge 4.8 (5.8) -> 3.9 (6.8) MB, pooled: 0 MB, 0.70 / 0.00 ms  (average mu = 1.000) allocation failure;\n'))
      .toEqual({ scavenges: 1, scavengeMs: 0.7, longestScavengeMs: 0.7, other: 0, otherMs: 0, longestOtherMs: 0 });
  });

  it('shippedNodeFlags reads the Node flags of bin/mesh-dns, so the bench runs mesh-dns as the image does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-flags-'));
    try {
      mkdirSync(join(dir, 'bin'));
      const launcher = (line: string) => writeFileSync(join(dir, 'bin', 'mesh-dns'), `#!/bin/sh\n# exec node --not-this "$here/../dist/main.js"\nset -e\nhere=$(dirname "$0")\n${line}\n`);
      launcher('exec node --max-semi-space-size=1 --abort-on-uncaught-exception "$here/../dist/main.js" "$@"');
      expect(shippedNodeFlags(dir)).toEqual(['--max-semi-space-size=1', '--abort-on-uncaught-exception']);
      launcher('exec node "$here/../dist/main.js" "$@"');
      expect(shippedNodeFlags(dir)).toEqual([]);
      rmSync(join(dir, 'bin', 'mesh-dns'));
      expect(shippedNodeFlags(dir)).toEqual([]);
      // This repository: the launcher the image runs carries exactly these flags.
      const line = /^exec node .*$/m.exec(readFileSync(join(REPO, 'bin', 'mesh-dns'), 'utf8'))![0];
      expect(line).toBe(`exec node ${shippedNodeFlags(REPO).join(' ')} "$here/../dist/main.js" "$@"`);
      expect(shippedNodeFlags(REPO).length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shippedEnvironment reads what bin/mesh-dns exports, and --env style pairs override or remove it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-env-'));
    try {
      mkdirSync(join(dir, 'bin'));
      writeFileSync(join(dir, 'bin', 'mesh-dns'), '#!/bin/sh\n# export NOT_THIS="${NOT_THIS:-1}"\nexport MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"\nexport OTHER="${WRONG:-3}"\nexport UV_X="${UV_X:-a b}"\nexec node "$here/../dist/main.js" "$@"\n');
      // A default under another variable's name is not a default of this one: left out.
      expect(shippedEnvironment(dir)).toEqual({ MALLOC_ARENA_MAX: '2', UV_X: 'a b' });
      expect(withEnvironment({ MALLOC_ARENA_MAX: '2' }, ['MALLOC_ARENA_MAX=1', 'X=y=z'])).toEqual({ MALLOC_ARENA_MAX: '1', X: 'y=z' });
      expect(withEnvironment({ MALLOC_ARENA_MAX: '2' }, ['MALLOC_ARENA_MAX='])).toEqual({});
      expect(() => withEnvironment({}, ['=1'])).toThrow(/expected KEY=VALUE/);
      rmSync(join(dir, 'bin', 'mesh-dns'));
      expect(shippedEnvironment(dir)).toEqual({});
      // This repository: every export line of the launcher the image runs is one the benches apply.
      const exports = readFileSync(join(REPO, 'bin', 'mesh-dns'), 'utf8').split('\n').filter((line) => line.startsWith('export '));
      expect(exports.length).toBeGreaterThan(0);
      expect(Object.keys(shippedEnvironment(REPO))).toHaveLength(exports.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
