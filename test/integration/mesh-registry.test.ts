// mesh-dns (the real CLI) following the real MCP Mesh registry binary, asked by the real dig.
// The registry runs with HEALTH_CHECK_INTERVAL=1 DEFAULT_TIMEOUT_THRESHOLD=3 so an agent that
// stops heartbeating turns unhealthy in 3–4 s (reference §4.2); live agents are pinged every
// second like the SDKs do (HEAD /heartbeat/{id}).

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSnapshot } from '../../src/registry/snapshot-store.ts';
import type { AgentProjection, StoredSnapshot } from '../../src/registry/types.ts';
import { Rcode } from '../../src/wire/constants.ts';
import { buildQuery, decode } from '../support/dns-messages.ts';
import { addressesOf, dig } from '../support/dig.ts';
import { eventually, startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { freePort, stopAllProcesses } from '../support/processes.ts';
import { agentBody, startRegistry, type TestRegistry } from '../support/registry.ts';
import { mountNamespaceUnavailable, USER_NAMESPACE } from '../support/namespace.ts';
import { reportSkip, skipUnless } from '../support/tools.ts';
import { queryUdp } from '../support/udp-query.ts';

const POLL_MS = 500;
const TTL = 7;
const NEGATIVE_TTL = 3;

const DIG_MISSING = skipUnless('mesh-registry integration', ['dig']);

describe.skipIf(DIG_MISSING)('mesh-dns answering from the real MCP Mesh registry', () => {
  let registry: TestRegistry;
  let mesh: MeshDnsProcess;
  const alive = new Set<string>();
  let pinger: NodeJS.Timeout | undefined;

  const q = (name: string, type = 'A', options: string[] = []) => dig('127.0.0.1', mesh.dnsPort, name, type, options);

  async function register(id: string, name: string, host: string, port: number, capabilities: { capability: string; version?: string }[] = []) {
    await registry.heartbeat(agentBody(id, name, host, port, capabilities));
    alive.add(id);
  }

  beforeAll(async () => {
    registry = await startRegistry({ healthCheckInterval: 1, timeoutThreshold: 3 });
    await register('weather-a1b2c3d4', 'weather', '10.0.0.11', 8081, [{ capability: 'weather_forecast', version: '1.2.0' }]);
    await register('weather-e5f6a7b8', 'weather', '10.0.0.12', 8081, [{ capability: 'weather_forecast', version: '1.2.0' }]);
    await register('geo-0c1d2e3f', 'geo', 'fd00::12', 9090, [{ capability: 'geo.geocode' }]);
    await register('v6br-aaaa0003', 'v6br', '[fd00::13]', 9091);
    await register('wild-aaaa0001', 'wild', '0.0.0.0', 8000);
    await register('local-aaaa0002', 'local', 'localhost', 8001);
    await register('stdio-aaaa0004', 'stdio', '', 0);
    pinger = setInterval(() => {
      for (const id of alive) void registry.ping(id).catch(() => undefined);
    }, 1000);
    mesh = await startMeshDnsProcess({
      configYaml: `zone:\n  ttl: ${TTL}s\n  negativeTtl: ${NEGATIVE_TTL}s\n`,
      env: { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_REGISTRY_POLL_INTERVAL: `${POLL_MS}ms` },
    });
    await eventually(async () => (await fetch(`${mesh.httpUrl}/ready`)).status === 200, 10_000);
  });

  afterAll(async () => {
    clearInterval(pinger);
    await stopAllProcesses();
  });

  it('answers a name with every healthy instance, authoritatively, with the configured TTL (UDP and TCP)', async () => {
    for (const transport of [[], ['+tcp']]) {
      const result = await q('weather.mesh.local', 'A', transport);
      expect(result.protocol).toBe(transport.length ? 'TCP' : 'UDP');
      expect(result.status).toBe('NOERROR');
      expect(result.flags).toEqual(expect.arrayContaining(['qr', 'aa']));
      // RA: this loopback client is offered recursion (the process has an upstream).
      expect(result.flags).toContain('ra');
      expect(addressesOf(result)).toEqual(['10.0.0.11', '10.0.0.12']);
      expect(result.answer.every((record) => record.ttl === TTL && record.name === 'weather.mesh.local.')).toBe(true);
      expect(result.authority).toEqual([]);
      expect(result.edns?.udp).toBe(1232);
    }
  });

  it('rotates the order of instances between responses', async () => {
    const orders = new Set<string>();
    for (let i = 0; i < 4; i++) orders.add((await q('weather.mesh.local')).answer.map((record) => record.data).join(','));
    expect(orders).toEqual(new Set(['10.0.0.11,10.0.0.12', '10.0.0.12,10.0.0.11']));
  });

  it('answers an agent id with that one instance, plus TXT metadata', async () => {
    expect(addressesOf(await q('weather-a1b2c3d4.mesh.local'))).toEqual(['10.0.0.11']);
    const txt = await q('weather-a1b2c3d4.mesh.local', 'TXT');
    expect(txt.status).toBe('NOERROR');
    const strings = txt.answer[0]!.data;
    expect(strings).toContain('"version=1.0.0"');
    expect(strings).toContain('"runtime=python"');
    expect(strings).toContain('"cap=weather_forecast@1.2.0"');
  });

  it('serves unbracketed and bracketed IPv6 endpoints as AAAA, and NODATA with the SOA for A', async () => {
    expect(addressesOf(await q('geo.mesh.local', 'AAAA'), 'AAAA')).toEqual(['fd00::12']);
    expect(addressesOf(await q('v6br.mesh.local', 'AAAA'), 'AAAA')).toEqual(['fd00::13']);
    const nodata = await q('geo.mesh.local', 'A');
    expect(nodata.status).toBe('NOERROR');
    expect(nodata.flags).toContain('aa');
    expect(nodata.answer).toEqual([]);
    expect(nodata.authority).toHaveLength(1);
    expect(nodata.authority[0]).toMatchObject({ name: 'mesh.local.', type: 'SOA', ttl: NEGATIVE_TTL });
  });

  it('publishes SRV per name and per capability, with the targets\' addresses in ADDITIONAL', async () => {
    const srv = await q('_mcp._tcp.weather.mesh.local', 'SRV');
    expect(srv.status).toBe('NOERROR');
    expect(srv.answer.map((record) => record.data).sort()).toEqual([
      '1 1 8081 weather-a1b2c3d4.mesh.local.',
      '1 1 8081 weather-e5f6a7b8.mesh.local.',
    ]);
    expect(srv.additional.map((record) => `${record.name} ${record.data}`).sort()).toEqual([
      'weather-a1b2c3d4.mesh.local. 10.0.0.11',
      'weather-e5f6a7b8.mesh.local. 10.0.0.12',
    ]);
    const capability = await q('_weather_forecast._tcp.mesh.local', 'SRV');
    expect(capability.answer).toHaveLength(2);
    // A capability that is not a DNS label ("geo.geocode") gets no SRV name; the empty
    // non-terminal _tcp.mesh.local exists, so its parent is NODATA, not NXDOMAIN.
    expect((await q('_tcp.mesh.local', 'SRV')).status).toBe('NOERROR');
  });

  it('answers PTR for agent addresses in the private reverse zones', async () => {
    const ptr = await q('11.0.0.10.in-addr.arpa', 'PTR');
    expect(ptr.status).toBe('NOERROR');
    expect(ptr.flags).toContain('aa');
    expect(ptr.answer.map((record) => record.data)).toEqual(['weather-a1b2c3d4.mesh.local.']);
    const unknown = await q('99.0.0.10.in-addr.arpa', 'PTR');
    expect(unknown.status).toBe('NXDOMAIN');
    expect(unknown.authority[0]).toMatchObject({ name: '10.in-addr.arpa.', type: 'SOA' });
  });

  it('leaves out 0.0.0.0, localhost and stdio agents, counted by reason', async () => {
    for (const name of ['wild', 'local', 'stdio']) {
      const result = await q(`${name}.mesh.local`);
      expect(result.status).toBe('NXDOMAIN');
      expect(result.authority[0]?.type).toBe('SOA');
    }
    const metrics = await (await fetch(`${mesh.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/meshdns_registry_skipped_agents\{reason="unspecified_address"\} 1/);
    expect(metrics).toMatch(/meshdns_registry_skipped_agents\{reason="loopback"\} 1/);
    expect(metrics).toMatch(/meshdns_registry_skipped_agents\{reason="stdio"\} 1/);
    // One warning per agent, not one per poll: several polls have run by now.
    const warnings = mesh.process.output().split('\n').filter((line) => line.includes('wild-aaaa0001'));
    expect(warnings).toHaveLength(1);
  });

  it('follows an agent that moves to a new address within two poll intervals', async () => {
    const latencies: number[] = [];
    for (const [index, host] of ['10.0.0.21', '10.0.0.22', '10.0.0.11'].entries()) {
      await registry.heartbeat(agentBody('weather-a1b2c3d4', 'weather', host, 8081 + index, [{ capability: 'weather_forecast', version: '1.2.0' }]));
      latencies.push(await eventually(async () => addressesOf(await q('weather-a1b2c3d4.mesh.local')).join() === host, 5000, 20));
    }
    console.log(`registry change → DNS latency (ms): ${latencies.join(', ')}`);
    for (const latency of latencies) expect(latency).toBeLessThanOrEqual(2 * POLL_MS + 300);
  });

  it('drops an agent that stops heartbeating once the registry marks it unhealthy', async () => {
    await register('fleeting-0000aaaa', 'fleeting', '10.0.0.50', 8000);
    await eventually(async () => (await q('fleeting.mesh.local')).status === 'NOERROR', 5000);
    alive.delete('fleeting-0000aaaa');
    const gone = await eventually(async () => (await q('fleeting.mesh.local')).status === 'NXDOMAIN', 10_000, 200);
    console.log(`heartbeats stopped → NXDOMAIN after ${gone} ms (registry threshold 3 s, check interval 1 s)`);
  });

  it('keeps answering from the last good zone when the registry dies, and says so', async () => {
    await registry.stop();
    await eventually(async () => {
      const metrics = await (await fetch(`${mesh.httpUrl}/metrics`)).text();
      return /meshdns_registry_up 0/.test(metrics);
    }, 5000);
    expect(addressesOf(await q('weather.mesh.local'))).toEqual(['10.0.0.11', '10.0.0.12']);
    const ready = await fetch(`${mesh.httpUrl}/ready`);
    expect(ready.status).toBe(200);
    const detail = (await ready.json()) as { registry: { consecutiveFailures: number; lastError: string | null } };
    expect(detail.registry.consecutiveFailures).toBeGreaterThan(0);
    expect(detail.registry.lastError).not.toBeNull();
  });

  it('answers from the snapshot after a restart while the registry is still down', async () => {
    const dir = mesh.dir;
    await mesh.process.stop();
    const restarted = await startMeshDnsProcess({
      dir,
      configYaml: `zone:\n  ttl: ${TTL}s\n`,
      env: { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_REGISTRY_POLL_INTERVAL: `${POLL_MS}ms` },
    });
    await eventually(async () => (await fetch(`${restarted.httpUrl}/ready`)).status === 200, 5000);
    const result = await dig('127.0.0.1', restarted.dnsPort, 'weather.mesh.local');
    expect(result.status).toBe('NOERROR');
    expect(addressesOf(result)).toEqual(['10.0.0.11', '10.0.0.12']);
    const detail = (await (await fetch(`${restarted.httpUrl}/ready`)).json()) as { registry: { source: string } };
    expect(detail.registry.source).toBe('snapshot');
    await restarted.stop();
  });
});

// unshare gives mesh-dns its own /etc/hosts (in a user namespace of its own without root).
const HOSTS_PROBLEM = mountNamespaceUnavailable(['dig']);
if (HOSTS_PROBLEM) reportSkip('hostname agents', HOSTS_PROBLEM);
const HOSTS_UNAVAILABLE = HOSTS_PROBLEM !== null;

describe.skipIf(HOSTS_UNAVAILABLE)('agents that advertise a hostname', () => {
  afterAll(stopAllProcesses);

  it('are resolved through the system resolver and answered under the mesh name', async () => {
    const registry = await startRegistry();
    await registry.heartbeat(agentBody('chat-11223344', 'chat', 'chat.internal.example', 7000));
    await registry.heartbeat(agentBody('chat-55667788', 'chat', 'chat.internal.example', 7000));
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const hostsDir = await mkdtemp(join(tmpdir(), 'mesh-dns-hosts-'));
    const hosts = join(hostsDir, 'hosts');
    await writeFile(hosts, '127.0.0.1 localhost\n10.0.0.77 chat.internal.example\nfd00::77 chat.internal.example\n');
    // A private mount namespace: mesh-dns (and only it) sees this hosts file through glibc/Node.
    const mesh = await startMeshDnsProcess({
      env: { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_REGISTRY_POLL_INTERVAL: '500ms' },
      wrap: (command) => ['unshare', ...USER_NAMESPACE, '-m', 'sh', '-c', `mount --bind ${hosts} /etc/hosts && exec "$@"`, 'sh', ...command],
    });
    await eventually(async () => (await dig('127.0.0.1', mesh.dnsPort, 'chat.mesh.local')).status === 'NOERROR', 8000);
    const a = await dig('127.0.0.1', mesh.dnsPort, 'chat.mesh.local', 'A');
    // Helm replicas advertise one Service hostname: one address, not one per instance.
    expect(addressesOf(a)).toEqual(['10.0.0.77']);
    expect(addressesOf(await dig('127.0.0.1', mesh.dnsPort, 'chat.mesh.local', 'AAAA'), 'AAAA')).toEqual(['fd00::77']);
    expect(addressesOf(await dig('127.0.0.1', mesh.dnsPort, 'chat-55667788.mesh.local'))).toEqual(['10.0.0.77']);
  });
});

// Its own guard: the reason printed names this test, not the block above.
const SNAPSHOT_AT_STOP_UNAVAILABLE = skipUnless('registry snapshot written at shutdown (real CLI, registry and dig)', ['dig']);

describe.skipIf(SNAPSHOT_AT_STOP_UNAVAILABLE)('the registry snapshot at shutdown (registry.snapshotInterval)', () => {
  afterAll(stopAllProcesses);

  it('a stop signal writes the changes the interval held back, and a restart with the registry down answers them', async () => {
    const registry = await startRegistry();
    const dir = await mkdtemp(join(tmpdir(), 'mesh-dns-snapshot-stop-'));
    const storedIds = async () => (await loadSnapshot(join(dir, 'snapshot.json'))).snapshot?.agents.map((agent) => agent.id) ?? [];
    // An interval no test outlasts: only the first projection and the stop write the file.
    const env = { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_REGISTRY_POLL_INTERVAL: '200ms', MESH_DNS_SNAPSHOT_INTERVAL: '1h' };
    try {
      await registry.heartbeat(agentBody('alpha-00000001', 'alpha', '10.0.1.1', 8000));
      const mesh = await startMeshDnsProcess({ dir, env });
      await eventually(async () => (await storedIds()).length === 1, 5000);
      await registry.heartbeat(agentBody('bravo-00000002', 'bravo', '10.0.1.2', 8000));
      await eventually(async () => addressesOf(await dig('127.0.0.1', mesh.dnsPort, 'bravo.mesh.local')).join() === '10.0.1.2', 5000);
      // Served, not yet in the file; /ready says so.
      expect(await storedIds()).toEqual(['alpha-00000001']);
      const ready = (await (await fetch(`${mesh.httpUrl}/ready`)).json()) as { registry: { snapshot: { unsaved: boolean } } };
      expect(ready.registry.snapshot.unsaved).toBe(true);

      await mesh.process.stop(); // SIGTERM: the shutdown sequence, then the registry sync's stop()
      expect(mesh.process.output()).not.toMatch(/"level":(50|60)/);
      expect(await storedIds()).toEqual(['alpha-00000001', 'bravo-00000002']);

      await registry.stop();
      const restarted = await startMeshDnsProcess({ dir, env });
      await eventually(async () => (await fetch(`${restarted.httpUrl}/ready`)).status === 200, 5000);
      const answer = await dig('127.0.0.1', restarted.dnsPort, 'bravo.mesh.local');
      expect(answer.status).toBe('NOERROR');
      expect(addressesOf(answer)).toEqual(['10.0.1.2']);
      await restarted.stop();
    } finally {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// Over 2,000 agents the first zone is built in slices while the event loop runs (zone/holder.ts):
// until it is swapped in, the zone served holds the static records alone.
describe('a restart from a large snapshot, the registry down', () => {
  const AGENTS = 20_000;
  afterAll(stopAllProcesses);

  it('is not ready, and answers an agent SERVFAIL (EDE 14), never NXDOMAIN, until the zone holding it is served', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mesh-dns-large-snapshot-'));
    const address = (index: number) => `10.9.${index >> 8}.${index & 0xff}`;
    const agents: AgentProjection[] = Array.from({ length: AGENTS }, (_, index) => ({
      id: `agent-${String(index).padStart(5, '0')}-0000`, name: `agent-${index}`, status: 'healthy', scheme: 'http',
      host: address(index), hostKind: 'ipv4', port: 8000, capabilities: [{ name: `cap_${index % 50}`, version: '', tags: [] }],
      version: '1.0.0', runtime: 'python', agentType: 'mcp_agent', addresses: [address(index)],
    }));
    // Nothing listens there: the registry is down for the whole test.
    const downRegistry = `http://127.0.0.1:${await freePort()}`;
    const snapshot: StoredSnapshot = { version: 1, savedAt: new Date().toISOString(), registryUrl: downRegistry, agents };
    await writeFile(join(dir, 'snapshot.json'), JSON.stringify(snapshot));
    const mesh = await startMeshDnsProcess({ dir, env: { MCP_MESH_REGISTRY_URL: downRegistry } });
    const last = AGENTS - 1;
    const seen: string[] = [];
    /** What /ready said while the sync was ready (the snapshot loaded) but the zone not served. */
    const building: string[] = [];
    for (let id = 1; ; id++) {
      const response = await fetch(`${mesh.httpUrl}/ready`);
      const ready = response.status === 200;
      const detail = (await response.json()) as { registry: { ready: boolean }; zone: { building?: string } };
      if (!ready && detail.registry.ready) building.push(detail.zone.building ?? 'no building detail');
      const reply = decode(await queryUdp(mesh.dnsPort, buildQuery({ id, name: `agent-${last}.mesh.local`, edns: {} })));
      seen.push(`${ready ? 'ready' : 'not ready'} ${reply.rcode}`);
      expect(reply.rcode, `${seen.length} probes: ${[...new Set(seen)].join(', ')}`).not.toBe(Rcode.NXDOMAIN);
      if (reply.rcode === Rcode.SERVFAIL) expect(reply.opt?.ede).toEqual({ code: 14, text: 'registry not synced yet' });
      if (ready) {
        // /ready said 200 before this query was sent: the agent is served.
        expect(reply.rcode).toBe(Rcode.NOERROR);
        expect(reply.answers.map((answer) => answer.address)).toEqual([address(last)]);
        break;
      }
      expect(seen.length).toBeLessThan(5000);
    }
    // The probes began while the snapshot was still loading or its zone being built.
    expect(seen[0]).toBe(`not ready ${Rcode.SERVFAIL}`);
    expect(building.length).toBeGreaterThan(0);
    expect(new Set(building)).toEqual(new Set(['the first projection, not served yet']));
    await mesh.stop();
    await rm(dir, { recursive: true, force: true });
  }, 30_000);
});
