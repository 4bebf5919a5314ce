// `npm run bench -- --quick`: the whole benchmark (every scenario, the bare dgram loop and
// mesh-dns as shipped in dist/) once, in seconds, so the bench cannot rot unnoticed. Its figures
// are not measurements (one second per server on a shared machine); the test asserts that every
// scenario ran, every answer was of the expected rcode, and the ratios to the floor exist.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { skipWithout } from '../support/tools.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MISSING = skipWithout('dnsperf', 'the bench smoke test') || skipWithout('dig', 'the bench smoke test');

interface BenchJson {
  scenarios: { scenario: string; results: { server: string; status: string; reason?: string; cpuPerQueryRatioBare?: number; summary?: { stats: { completed: number }; percentiles?: { p999Ms: number } } }[] }[];
}

describe.skipIf(MISSING)('npm run bench -- --quick', () => {
  it('runs every scenario for the bare loop and mesh-dns and reports mesh-dns against the floor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    try {
      const json = join(dir, 'bench.json');
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        execFile(process.execPath, ['test/bench/run.ts', '--quick', '--only', 'bare,mesh-dns', '--json', json], { cwd: REPO, timeout: 170_000 }, (error, stdout, stderr) => {
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
      }
      expect(output).toMatch(/== latency: mesh A at a fixed 2000 qps offered/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
