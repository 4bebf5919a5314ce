// Every line mesh-dns writes is one strict JSON object (RFC 8259, no name twice in an object),
// so log pipelines that reject duplicate keys (or keep the first, not the last) read it right.
// A whole life against real parts: the registry binary (zone updates, then an outage), knot as
// upstream (forwarded and logged queries), a SIGHUP reload, and SIGTERM.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dig } from '../support/dig.ts';
import { startKnot, type KnotServer } from '../support/knot.ts';
import { startMeshDnsProcess } from '../support/mesh-dns.ts';
import { stopAllProcesses, until } from '../support/processes.ts';
import { agentBody, startRegistry } from '../support/registry.ts';
import { parseStrictJson } from '../support/strict-json.ts';
import { skipWithout } from '../support/tools.ts';

const noKnot = skipWithout('knotd', 'the strict-JSON log test (knot is its upstream)');

describe.skipIf(noKnot)('log lines', () => {
  let knot: KnotServer | null = null;
  afterAll(async () => {
    await stopAllProcesses();
    await knot?.stop();
  });

  it('are strict JSON objects, none with a key twice, from every component', async () => {
    knot = await startKnot();
    const registry = await startRegistry();
    await registry.heartbeat(agentBody('weather-a1b2c3d4', 'weather', '10.1.0.7', 8080));
    const mesh = await startMeshDnsProcess({
      env: {
        MCP_MESH_REGISTRY_URL: registry.url,
        MESH_DNS_UPSTREAMS: `127.0.0.1:${knot.port}`,
        MESH_DNS_LOG_QUERIES: 'true',
        MESH_DNS_LOG_LEVEL: 'debug',
      },
    });
    const lines = () => mesh.process.output().split('\n').filter((line) => line !== '');
    const messages = () => lines().map((line) => (JSON.parse(line) as { msg: string }).msg);

    await until(() => messages().includes('zone updated'), 10_000, 'the first zone update from the registry');
    expect((await dig('127.0.0.1', mesh.dnsPort, 'weather.mesh.local', 'A')).answer.map((record) => record.data)).toEqual(['10.1.0.7']);
    expect((await dig('127.0.0.1', mesh.dnsPort, 'www.example.test', 'A')).status).toBe('NOERROR');
    expect((await dig('127.0.0.1', mesh.dnsPort, 'nobody.mesh.local', 'A')).status).toBe('NXDOMAIN');

    await registry.stop();
    await until(() => messages().some((message) => message.startsWith('registry poll failed')), 10_000, 'a registry failure line');
    await writeFile(join(mesh.dir, 'mesh-dns.yaml'), 'zone:\n  ttl: 7s\n');
    process.kill(mesh.process.pid, 'SIGHUP');
    await until(() => messages().some((message) => message.startsWith('config reloaded')), 5000, 'the reload line');
    await mesh.stop();

    const all = lines();
    const parsed = all.map((line) => parseStrictJson(line) as Record<string, unknown>);
    for (const line of parsed) expect(line).toMatchObject({ level: expect.any(Number), time: expect.any(Number), msg: expect.any(String) });
    // Each component spoke at least once, so none of their bindings went unchecked.
    const components = new Set(parsed.map((line) => line.component));
    for (const component of ['registry-sync', 'query']) expect(components, `no ${component} line in:\n${all.join('\n')}`).toContain(component);
    expect(parsed.at(-1)).toMatchObject({ msg: 'stopped' });
  });
});
