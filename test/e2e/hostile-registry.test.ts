// mesh-dns (the real CLI, test/support/mesh-dns.ts) fed hostile GET /agents bodies by a small
// HTTP server in this test (the real registry cannot be made to send them), under a memory cap:
// V8's heap is capped with --max-old-space-size and an RSS watchdog samples /proc/<pid>/status
// every 20 ms, because JSON.parse's damage was native memory (~52 bytes per input byte, issue 6
// item 8) that no heap flag bounds. After each body, dig must still get the last good zone, and
// /ready and /metrics must say why the body was refused.

import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressesOf, dig } from '../support/dig.ts';
import { eventually, startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { stopAllProcesses } from '../support/processes.ts';
import { agentInfo, agentsBody } from '../support/registry.ts';
import { startFakeRegistry, type FakeRegistry } from '../unit/registry/fake-registry.ts';
import { skipUnless } from '../support/tools.ts';

const HEAP_CAP_MB = 96;
/** The cap the watchdog enforces on the whole process (heap, native, code, buffers). */
const RSS_CAP_MB = 256;
const MB = 1024 * 1024;

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/** Writes `total` bytes made by `chunk(i)` with backpressure; stops when the client goes away. */
function stream(res: ServerResponse, parts: () => Iterator<Buffer>, endBody = true): void {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  const iterator = parts();
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  const pump = () => {
    while (!closed) {
      const next = iterator.next();
      if (next.done) {
        if (endBody) res.end();
        return;
      }
      if (!res.write(next.value)) {
        res.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

function* repeat(head: Buffer, filler: Buffer, bytes: number, tail: Buffer): Iterator<Buffer> {
  yield head;
  for (let written = 0; written < bytes; written += filler.length) yield filler;
  yield tail;
}

const good = agentsBody([
  agentInfo({ id: 'weather-a1b2c3d4', name: 'weather', endpoint: 'http://10.0.0.11:8081' }),
  agentInfo({ id: 'weather-e5f6a7b8', name: 'weather', endpoint: 'http://10.0.0.12:8081' }),
]);

describe.skipIf(skipUnless('hostile registry bodies', ['dig']))('mesh-dns under hostile registry bodies, memory-capped', () => {
  let fake: FakeRegistry;
  let mesh: MeshDnsProcess;
  let watchdog: NodeJS.Timeout;
  let peakRss = 0;
  const peaks: string[] = [];

  beforeAll(async () => {
    fake = await startFakeRegistry((_req, res) => {
      const text = JSON.stringify(good);
      res.writeHead(200, { 'content-type': 'application/json' }).end(text);
    });
    mesh = await startMeshDnsProcess({
      env: {
        MCP_MESH_REGISTRY_URL: fake.url,
        MESH_DNS_REGISTRY_POLL_INTERVAL: '300ms',
        MESH_DNS_REGISTRY_EVENTS_HINT_INTERVAL: '0',
        MCP_MESH_NETWORK_TIMEOUT: '8s',
        NODE_OPTIONS: `--max-old-space-size=${HEAP_CAP_MB}`,
      },
    });
    watchdog = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, rssMb(mesh.process.pid));
      } catch {
        // The process is gone; the tests below say so.
      }
    }, 20);
    await eventually(async () => addressesOf(await dig('127.0.0.1', mesh.dnsPort, 'weather.mesh.local')).length === 2, 10_000);
  });

  afterAll(async () => {
    clearInterval(watchdog);
    console.log(`mesh-dns peak RSS per phase (cap ${RSS_CAP_MB} MiB, heap cap ${HEAP_CAP_MB} MiB): ${peaks.join('; ')}`);
    await stopAllProcesses();
    await fake.close();
  });

  async function registryDetail(): Promise<{ lastErrorCode: string | null; consecutiveFailures: number; ready: boolean }> {
    const ready = (await (await fetch(`${mesh.httpUrl}/ready`)).json()) as { ready: boolean; registry: { lastErrorCode: string | null; consecutiveFailures: number } };
    return { ...ready.registry, ready: ready.ready };
  }

  async function rejected(code: string): Promise<number> {
    const metrics = await (await fetch(`${mesh.httpUrl}/metrics`)).text();
    return Number(new RegExp(`meshdns_registry_rejected_bodies_total\\{code="${code}"\\} (\\d+)`).exec(metrics)?.[1] ?? 'NaN');
  }

  /** Serves `body` until mesh-dns has refused it twice with `code`; then checks it still serves. */
  async function refuses(label: string, code: string, answer: (res: ServerResponse) => void, timeoutMs = 20_000) {
    peakRss = 0;
    const before = await rejected(code.toLowerCase());
    fake.answer((_req, res) => answer(res));
    await eventually(async () => (await rejected(code.toLowerCase())) >= before + 2, timeoutMs, 50);
    const detail = await registryDetail();
    expect(detail).toMatchObject({ ready: true, lastErrorCode: code });
    expect(detail.consecutiveFailures).toBeGreaterThanOrEqual(2);
    const answer2 = await dig('127.0.0.1', mesh.dnsPort, 'weather.mesh.local');
    expect(answer2.status).toBe('NOERROR');
    expect(addressesOf(answer2)).toEqual(['10.0.0.11', '10.0.0.12']);
    peaks.push(`${label} ${peakRss.toFixed(0)} MiB`);
    expect(peakRss, `${label}: peak RSS`).toBeLessThan(RSS_CAP_MB);
  }

  it('refuses 10 MB of `[` (the issue\'s OOM body) at its first byte', async () => {
    await refuses('10 MB of [', 'NOT_AN_OBJECT', (res) => stream(res, () => repeat(Buffer.alloc(0), Buffer.alloc(MB, '['), 10 * MB, Buffer.alloc(0))));
  });

  it('refuses 10 MB of nested brackets behind a key at depth 32', async () => {
    await refuses('10 MB nested', 'TOO_DEEP', (res) => stream(res, () => repeat(Buffer.from('{"agents":null,"x":'), Buffer.alloc(MB, '['), 10 * MB, Buffer.alloc(0))));
  });

  it('refuses a body that never ends, fast (at registry.maxBodyBytes) and slow (at registry.timeout)', async () => {
    await refuses('endless fast', 'BODY_TOO_LARGE', (res) => stream(res, function* () {
      yield Buffer.from('{"agents":[],"x":"');
      const filler = Buffer.alloc(256 * 1024, 'x');
      for (;;) yield filler;
    }, false));
    peakRss = 0;
    const timeoutsBefore = await (async () => Number(/meshdns_registry_poll_failures_total\{reason="timeout"\} (\d+)/.exec(await (await fetch(`${mesh.httpUrl}/metrics`)).text())?.[1]))();
    fake.answer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"agents":[');
      const drip = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(drip));
    });
    await eventually(async () => Number(/meshdns_registry_poll_failures_total\{reason="timeout"\} (\d+)/.exec(await (await fetch(`${mesh.httpUrl}/metrics`)).text())?.[1]) > timeoutsBefore, 15_000, 100);
    expect(await registryDetail()).toMatchObject({ ready: true, lastErrorCode: 'REGISTRY_TIMEOUT' });
    expect(addressesOf(await dig('127.0.0.1', mesh.dnsPort, 'weather.mesh.local'))).toEqual(['10.0.0.11', '10.0.0.12']);
    peaks.push(`endless slow ${peakRss.toFixed(0)} MiB`);
    expect(peakRss).toBeLessThan(RSS_CAP_MB);
  });

  it('applies 50 MB of valid JSON (40 agents with 1.2 MB descriptions) with memory bounded by what it keeps', async () => {
    peakRss = 0;
    const description = Buffer.alloc(1.25 * MB, 'd');
    fake.answer((_req, res) => stream(res, function* () {
      yield Buffer.from('{"agents":[');
      for (let i = 0; i < 40; i++) {
        const [head, tail] = JSON.stringify(agentInfo({ id: `big-${String(i).padStart(8, '0')}`, name: 'big', endpoint: `http://10.0.3.${i + 1}:8080`, description: 'MARK' })).split('MARK') as [string, string];
        yield Buffer.from(`${i > 0 ? ',' : ''}${head}`);
        yield description;
        yield Buffer.from(tail);
      }
      yield Buffer.from('],"count":40}');
    }));
    await eventually(async () => addressesOf(await dig('127.0.0.1', mesh.dnsPort, 'big.mesh.local')).length === 40, 30_000, 200);
    expect((await registryDetail()).lastErrorCode).toBeNull();
    // Two more polls of the same 50 MB: no growth from poll to poll.
    const polls = async () => Number(/meshdns_registry_polls_total\{result="success"\} (\d+)/.exec(await (await fetch(`${mesh.httpUrl}/metrics`)).text())?.[1]);
    const after = await polls();
    await eventually(async () => (await polls()) >= after + 2, 30_000, 200);
    peaks.push(`50 MB valid ${peakRss.toFixed(0)} MiB`);
    expect(peakRss).toBeLessThan(RSS_CAP_MB);
    // The old zone is gone only because the registry's answer changed: weather is no longer listed.
    expect((await dig('127.0.0.1', mesh.dnsPort, 'weather.mesh.local')).status).toBe('NXDOMAIN');
  });

  it('was alive throughout (not restarted, not killed)', () => {
    expect(mesh.process.output()).not.toMatch(/heap out of memory|FATAL ERROR/);
    expect(() => process.kill(mesh.process.pid, 0)).not.toThrow();
  });
});
