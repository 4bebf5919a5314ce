// The registry sync against the REAL mcp-mesh-registry binary (npm @mcpmesh/cli-linux-x64), on
// 127.0.0.1 with a fresh SQLite database per registry.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryMetrics } from '../../src/registry/metrics.ts';
import { loadSnapshot } from '../../src/registry/snapshot-store.ts';
import { createRegistrySync, type RegistrySync, type RegistrySyncOptions } from '../../src/registry/sync.ts';
import type { AgentProjection, HostnameLookup, RegistrySnapshot } from '../../src/registry/types.ts';
import { stopAllProcesses } from '../support/processes.ts';
import { agentBody, captureLogger, metricValue, startRegistry, type HeartbeatBody, type TestRegistry } from '../support/registry.ts';

afterAll(stopAllProcesses);

// chat.internal.example is not in any real DNS: the system resolver is replaced, as main.ts can't.
const lookup: HostnameLookup = async (hostname) => {
  if (hostname === 'chat.internal.example') return [{ address: '10.20.0.7', family: 4 }, { address: 'fd00::7', family: 6 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
};

const syncs: RegistrySync[] = [];
afterEach(async () => {
  await Promise.all(syncs.splice(0).map((sync) => sync.stop()));
});

function createSync(registryUrl: string, overrides: Partial<RegistrySyncOptions> = {}) {
  const log = captureLogger();
  const register = new Registry();
  const changes: RegistrySnapshot[] = [];
  const sync = createRegistrySync({
    registryUrl,
    pollIntervalMs: 60_000,
    requestTimeoutMs: 2000,
    snapshotPath: null,
    eventsHintIntervalMs: 0,
    resolveHostnames: true,
    lookup,
    logger: log.logger,
    metrics: createRegistryMetrics(register),
    onChange: (snapshot) => changes.push(snapshot),
    ...overrides,
  });
  syncs.push(sync);
  return { sync, changes, log, register };
}

/** Sockets to or from `port` (both ends of a loopback connection count), by state, from /proc/net/tcp. */
function registrySockets(port: number): { established: number; timeWait: number } {
  const counts = { established: 0, timeWait: 0 };
  const portOf = (address: string): number => Number.parseInt(address.split(':')[1]!, 16);
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || (portOf(fields[1]!) !== port && portOf(fields[2]!) !== port)) continue;
    if (fields[3] === '01') counts.established++;
    if (fields[3] === '06') counts.timeWait++;
  }
  return counts;
}

function projection(id: string, name: string, host: string, hostKind: AgentProjection['hostKind'], port: number, extra: Partial<AgentProjection> = {}): AgentProjection {
  return {
    id,
    name,
    status: 'healthy',
    scheme: 'http',
    host,
    hostKind,
    port,
    capabilities: [],
    version: '1.0.0',
    runtime: 'python',
    agentType: 'mcp_agent',
    addresses: hostKind === 'hostname' ? [] : [host],
    ...extra,
  };
}

async function waitFor<T>(probe: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('registry sync: projection of a live registry', () => {
  let registry: TestRegistry;
  const weatherA = agentBody('weather-a1b2c3d4', 'weather', '10.0.0.11', 8081, [{ capability: 'weather_forecast', version: '1.2.0', tags: ['weather', 'prod'] }]);
  const weatherB = agentBody('weather-e5f6a7b8', 'weather', '10.0.0.12', 8081, [{ capability: 'weather_forecast', version: '1.2.0', tags: ['weather', 'prod'] }]);

  beforeAll(async () => {
    // Default timings: nothing turns unhealthy on its own during these tests (20–30 s).
    registry = await startRegistry();
    const bodies: HeartbeatBody[] = [
      weatherA,
      weatherB,
      agentBody('geo-0c1d2e3f', 'geo', 'fd00::12', 9090, [
        { capability: 'geo.reverse', version: '2.0.1', tags: ['maps'] },
        { capability: 'geo.geocode', version: '2.0.1', tags: ['v2', 'maps'] },
      ]),
      agentBody('v6br-aaaa0003', 'v6br', '[fd00::13]', 9091),
      { ...agentBody('chat-11223344', 'chat', 'chat.internal.example', 7000, [{ capability: 'chat', tags: ['llm'] }]), runtime: 'java', version: '0.9.0' },
      { ...agentBody('api-aaaa0007', 'api', '10.0.0.60', 8080), agent_type: 'api' },
      agentBody('local-aaaa0002', 'local', 'localhost', 8001),
      agentBody('wild-aaaa0001', 'wild', '0.0.0.0', 8000),
      agentBody('stdio-aaaa0004', 'stdio', '', 0),
      agentBody('junkhost-aaaa0006', 'junkhost', 'not a host/../x', 70000),
      agentBody('bigport-aaaa0008', 'bigport', '10.0.0.70', 70000),
      agentBody('nxhost-aaaa0009', 'nxhost', 'nowhere.invalid', 8080),
      agentBody('gone-00000009', 'gone', '10.0.0.90', 8080),
    ];
    for (const body of bodies) await registry.heartbeat(body);
    // DELETE keeps the row but marks it unhealthy (reference §3.5): it must vanish silently.
    await registry.deregister('gone-00000009');
  });
  afterAll(() => registry.stop());

  const expected: AgentProjection[] = [
    projection('api-aaaa0007', 'api', '10.0.0.60', 'ipv4', 8080, { agentType: 'api' }),
    projection('chat-11223344', 'chat', 'chat.internal.example', 'hostname', 7000, {
      runtime: 'java',
      version: '0.9.0',
      // The registry applies the capability default version 1.0.0 (reference §3.1).
      capabilities: [{ name: 'chat', version: '1.0.0', tags: ['llm'] }],
      addresses: ['10.20.0.7', 'fd00::7'],
    }),
    projection('geo-0c1d2e3f', 'geo', 'fd00::12', 'ipv6', 9090, {
      capabilities: [
        { name: 'geo.geocode', version: '2.0.1', tags: ['maps', 'v2'] },
        { name: 'geo.reverse', version: '2.0.1', tags: ['maps'] },
      ],
    }),
    projection('v6br-aaaa0003', 'v6br', 'fd00::13', 'ipv6', 9091),
    projection('weather-a1b2c3d4', 'weather', '10.0.0.11', 'ipv4', 8081, {
      capabilities: [{ name: 'weather_forecast', version: '1.2.0', tags: ['prod', 'weather'] }],
    }),
    projection('weather-e5f6a7b8', 'weather', '10.0.0.12', 'ipv4', 8081, {
      capabilities: [{ name: 'weather_forecast', version: '1.2.0', tags: ['prod', 'weather'] }],
    }),
  ];

  it('projects healthy routable agents, sorted, and reports each skip once with its reason', async () => {
    // Check the registry really holds what the test thinks (unbracketed IPv6, stdio, junk, unhealthy).
    const raw = await registry.agents();
    const endpoints = Object.fromEntries((raw.agents ?? []).map((a) => [a['id'], [a['endpoint'], a['status']]]));
    expect(endpoints).toMatchObject({
      'geo-0c1d2e3f': ['http://fd00::12:9090', 'healthy'],
      'v6br-aaaa0003': ['http://[fd00::13]:9091', 'healthy'],
      'stdio-aaaa0004': ['stdio://stdio-aaaa0004', 'healthy'],
      'junkhost-aaaa0006': ['http://not a host/../x:70000', 'healthy'],
      'gone-00000009': ['http://10.0.0.90:8080', 'unhealthy'],
    });

    const { sync, changes, log, register } = createSync(registry.url);
    expect(await sync.pollNow()).toEqual({ result: 'changed', agents: 6, skipped: 6 });
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ source: 'registry', registryUrl: registry.url });
    expect(changes[0]?.agents).toEqual(expected);

    const skipWarnings = () => log.warnings().filter((line) => line.msg === 'agent left out of the zone');
    const warned = skipWarnings().map((line) => [line['id'], line['reason'], line['endpoint']]);
    expect(warned).toEqual([
      ['bigport-aaaa0008', 'invalid_port', 'http://10.0.0.70:70000'],
      ['junkhost-aaaa0006', 'unparsable_endpoint', 'http://not a host/../x:70000'],
      ['local-aaaa0002', 'loopback', 'http://localhost:8001'],
      ['nxhost-aaaa0009', 'unresolvable_hostname', 'http://nowhere.invalid:8080'],
      ['stdio-aaaa0004', 'stdio', 'stdio://stdio-aaaa0004'],
      ['wild-aaaa0001', 'unspecified_address', 'http://0.0.0.0:8000'],
    ]);
    const skippedGauge = async (reason: string) => metricValue(register, 'meshdns_registry_skipped_agents', { reason });
    expect(await skippedGauge('loopback')).toBe(1);
    expect(await skippedGauge('unresolvable_hostname')).toBe(1);
    expect(await metricValue(register, 'meshdns_registry_agents')).toBe(6);
    expect(await metricValue(register, 'meshdns_registry_zone_updates_total')).toBe(1);
    expect(sync.state()).toMatchObject({ ready: true, source: 'registry', consecutiveFailures: 0, lastError: null, agents: 6 });

    // A second poll of the same registry: no change, no repeated warnings.
    expect(await sync.pollNow()).toEqual({ result: 'unchanged', agents: 6, skipped: 6 });
    expect(changes).toHaveLength(1);
    expect(skipWarnings()).toHaveLength(6);
    expect(await metricValue(register, 'meshdns_registry_polls_total', { result: 'success' })).toBe(2);
  });

  it('ignores identical re-heartbeats (last_seen churn) and sees an endpoint move within two poll intervals', async () => {
    const pollIntervalMs = 300;
    const { sync, changes, register } = createSync(registry.url, { pollIntervalMs });
    await sync.start();
    expect(changes).toHaveLength(1);

    const lastSeen = async () => (await registry.agents()).agents?.find((a) => a['id'] === 'weather-a1b2c3d4')?.['last_seen'];
    const before = await lastSeen();
    await sleep(20);
    await registry.heartbeat(weatherA);
    expect(await lastSeen()).not.toBe(before);
    // Let the timer poll at least twice over the re-heartbeated registry.
    const successes = async () => (await metricValue(register, 'meshdns_registry_polls_total', { result: 'success' })) ?? 0;
    const base = await successes();
    const deadline = Date.now() + 5 * pollIntervalMs;
    while ((await successes()) < base + 2 && Date.now() < deadline) await sleep(20);
    expect(await successes()).toBeGreaterThanOrEqual(base + 2);
    expect(changes).toHaveLength(1);

    // A re-POST from another host silently moves the agent; no event is written (reference §6).
    const movedAt = Date.now();
    await registry.heartbeat({ ...weatherA, http_host: '10.0.0.21', http_port: 9081 });
    const moved = await waitFor(() => changes[1], 2 * pollIntervalMs, 'the moved endpoint');
    expect(Date.now() - movedAt).toBeLessThan(2 * pollIntervalMs);
    expect(moved.agents.find((a) => a.id === 'weather-a1b2c3d4')).toMatchObject({ host: '10.0.0.21', port: 9081, addresses: ['10.0.0.21'] });
    expect(moved.agents.filter((a) => a.id !== 'weather-a1b2c3d4')).toEqual(expected.filter((a) => a.id !== 'weather-a1b2c3d4'));
    // Memory (issue 9 item 4): each unchanged agent is the object already served (and held by the
    // zone), not the poll's fresh copy — the hostname agent, re-resolved every poll, included.
    const first = new Map(changes[0]!.agents.map((agent) => [agent.id, agent]));
    for (const agent of moved.agents) if (agent.id !== 'weather-a1b2c3d4') expect({ id: agent.id, served: agent === first.get(agent.id) }).toEqual({ id: agent.id, served: true });

    await registry.heartbeat(weatherA);
    await waitFor(() => changes[2], 2 * pollIntervalMs, 'the move back');
    expect(changes[2]?.agents).toEqual(expected);
  });

  it('sees a capability change, including the wipe a bare POST causes', async () => {
    const { sync, changes } = createSync(registry.url);
    await sync.pollNow();
    await registry.heartbeat({ ...weatherB, tools: [{ function_name: 'get_forecast', capability: 'weather_forecast', version: '1.3.0', tags: ['prod'] }] });
    expect(await sync.pollNow()).toMatchObject({ result: 'changed' });
    expect(changes[1]?.agents.find((a) => a.id === 'weather-e5f6a7b8')?.capabilities).toEqual([{ name: 'weather_forecast', version: '1.3.0', tags: ['prod'] }]);

    // Reference §3.1: a POST without `tools` wipes every capability but keeps host and port.
    const bare = await fetch(`${registry.url}/heartbeat`, { method: 'POST', body: JSON.stringify({ agent_id: 'weather-e5f6a7b8' }) });
    expect(((await bare.json()) as { status: string }).status).toBe('success');
    expect(await sync.pollNow()).toMatchObject({ result: 'changed' });
    expect(changes[2]?.agents.find((a) => a.id === 'weather-e5f6a7b8')).toMatchObject({ host: '10.0.0.12', port: 8081, capabilities: [] });

    await registry.heartbeat(weatherB);
    expect(await sync.pollNow()).toMatchObject({ result: 'changed' });
    expect(changes[3]?.agents).toEqual(expected);
  });

  it('polls at once on a new registry event when the events hint is on, but only the timer sees silent moves', async () => {
    const { sync, changes } = createSync(registry.url, { pollIntervalMs: 60_000, eventsHintIntervalMs: 100 });
    await sync.start();
    await sleep(250); // let the hint take its baseline marker

    // A new agent_id writes a `register` event (reference §3.6).
    const registeredAt = Date.now();
    await registry.heartbeat(agentBody('newbie-0000000a', 'newbie', '10.0.0.100', 8080));
    const seen = await waitFor(() => changes[1], 2000, 'the new agent through the events hint');
    expect(Date.now() - registeredAt).toBeLessThan(1000);
    expect(seen.agents.map((a) => a.id)).toContain('newbie-0000000a');

    // An endpoint move writes no event, so with a 60 s poll it stays unseen.
    await registry.heartbeat(agentBody('newbie-0000000a', 'newbie', '10.0.0.101', 8080));
    await sleep(800);
    expect(changes).toHaveLength(2);
    expect(await sync.pollNow()).toMatchObject({ result: 'changed' });
    expect(changes[2]?.agents.find((a) => a.id === 'newbie-0000000a')?.host).toBe('10.0.0.101');

    await registry.deregister('newbie-0000000a');
  });

  // node:http's agent kept the connection alive; the plain transport must too (src/http/plain-http-get.ts):
  // the events hint alone asks twice a second.
  it('polls the registry and its events over one kept connection, leaving no socket in TIME_WAIT', async () => {
    const port = Number(new URL(registry.url).port);
    const before = registrySockets(port);
    const { sync, register } = createSync(registry.url, { pollIntervalMs: 100, eventsHintIntervalMs: 50 });
    await sync.start();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const during = registrySockets(port);
    expect(await metricValue(register, 'meshdns_registry_polls_total', { result: 'success' })).toBeGreaterThanOrEqual(5);
    // At most two connections open (a poll and an events request may overlap), two ends each,
    // and none closed since this sync started.
    expect(during.established - before.established).toBeLessThanOrEqual(4);
    expect(during.timeWait - before.timeWait).toBe(0);
  });

  it('keeps serving when the snapshot cannot be written, and writes it once it can', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mesh-dns-sync-it-'));
    try {
      // A regular file where the snapshot directory should be: mkdir -p fails with ENOTDIR.
      const blocker = join(dir, 'state');
      await writeFile(blocker, 'not a directory');
      const snapshotPath = join(blocker, 'registry-snapshot.json');
      const { sync, changes, log, register } = createSync(registry.url, { snapshotPath });
      expect(await sync.pollNow()).toMatchObject({ result: 'changed' });
      expect(changes).toHaveLength(1);
      expect(await metricValue(register, 'meshdns_registry_snapshot_writes_total', { result: 'failure' })).toBe(1);
      expect(log.warnings().map((line) => line.msg)).toContain('cannot write registry snapshot file');

      await rm(blocker);
      expect(await sync.pollNow()).toMatchObject({ result: 'unchanged' });
      expect(await metricValue(register, 'meshdns_registry_snapshot_writes_total', { result: 'success' })).toBe(1);
      expect((await loadSnapshot(snapshotPath)).snapshot?.agents).toEqual(expected);
      // Written: an unchanged poll does not write again.
      await sync.pollNow();
      expect(await metricValue(register, 'meshdns_registry_snapshot_writes_total', { result: 'success' })).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('offers a change again when onChange throws, instead of losing it', async () => {
    let calls = 0;
    const { sync, log } = createSync(registry.url, {
      onChange: () => {
        calls += 1;
        if (calls === 1) throw new Error('zone compiler exploded');
      },
    });
    expect(await sync.pollNow()).toMatchObject({ result: 'unchanged' });
    expect(log.lines.filter((line) => line.level === 50).map((line) => line.msg)).toEqual(['zone update from registry projection failed']);
    expect(await sync.pollNow()).toMatchObject({ result: 'changed' });
    expect(calls).toBe(2);
    expect(await sync.pollNow()).toMatchObject({ result: 'unchanged' });
    expect(calls).toBe(2);
  });
});

describe('registry sync: agents turning unhealthy', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    // Reference §4.2: with 1 s / 3 s an agent turns unhealthy 3.1–3.8 s after its last heartbeat.
    registry = await startRegistry({ healthCheckInterval: 1, timeoutThreshold: 3 });
  });
  afterAll(() => registry.stop());

  it('drops an agent that stops heartbeating, and one that deregisters, while a live one stays', async () => {
    await registry.heartbeat(agentBody('keep-00000001', 'keep', '10.0.1.1', 8080));
    await registry.heartbeat(agentBody('lapse-00000002', 'lapse', '10.0.1.2', 8080));
    const lastLapseHeartbeat = Date.now();
    const keepAlive = setInterval(() => void registry.ping('keep-00000001'), 1000);
    try {
      const { sync, changes } = createSync(registry.url, { pollIntervalMs: 200 });
      await sync.start();
      expect(changes[0]?.agents.map((a) => a.id)).toEqual(['keep-00000001', 'lapse-00000002']);

      const dropped = await waitFor(() => changes[1], 10_000, 'lapse-00000002 to turn unhealthy');
      const elapsed = Date.now() - lastLapseHeartbeat;
      expect(dropped.agents.map((a) => a.id)).toEqual(['keep-00000001']);
      expect(elapsed).toBeGreaterThanOrEqual(3000);
      expect(elapsed).toBeLessThan(7000);
      // Still listed by the registry, just unhealthy: the projection filters it.
      const raw = await registry.agents();
      expect(raw.agents?.find((a) => a['id'] === 'lapse-00000002')?.['status']).toBe('unhealthy');

      const deregisteredAt = Date.now();
      await registry.deregister('keep-00000001');
      const empty = await waitFor(() => changes[2], 2000, 'keep-00000001 to leave after DELETE');
      expect(Date.now() - deregisteredAt).toBeLessThan(1000);
      expect(empty.agents).toEqual([]);
      expect(sync.state()).toMatchObject({ ready: true, agents: 0 });
    } finally {
      clearInterval(keepAlive);
    }
  });
});

/** A real registry and a temporary directory for one describe block, both gone after it. */
function registryAndDirectory(prefix: string): { readonly registry: TestRegistry; readonly dir: string } {
  const held = {} as { registry: TestRegistry; dir: string };
  beforeAll(async () => {
    held.registry = await startRegistry();
    held.dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    await held.registry.stop();
    await rm(held.dir, { recursive: true, force: true });
  });
  return held;
}

describe('registry sync: registry down', () => {
  const setup = registryAndDirectory('mesh-dns-sync-it-');

  it('keeps serving after the registry dies, and restarts from the snapshot while it is down', async () => {
    const { registry, dir } = setup;
    const snapshotPath = join(dir, 'state', 'registry-snapshot.json');
    await registry.heartbeat(agentBody('weather-a1b2c3d4', 'weather', '10.0.0.11', 8081, [{ capability: 'weather_forecast' }]));
    await registry.heartbeat(agentBody('geo-0c1d2e3f', 'geo', 'fd00::12', 9090));

    const first = createSync(registry.url, { snapshotPath });
    await first.sync.start();
    expect(first.changes).toHaveLength(1);
    const served = first.changes[0]?.agents ?? [];
    expect(served.map((a) => a.id)).toEqual(['geo-0c1d2e3f', 'weather-a1b2c3d4']);
    const saved = await loadSnapshot(snapshotPath);
    expect(saved.snapshot).toMatchObject({ version: 1, registryUrl: registry.url, agents: served });
    expect(await metricValue(first.register, 'meshdns_registry_snapshot_writes_total', { result: 'success' })).toBe(1);

    await registry.stop();
    expect(await first.sync.pollNow()).toMatchObject({ result: 'failed', reason: 'connect' });
    expect(await first.sync.pollNow()).toMatchObject({ result: 'failed', reason: 'connect' });
    expect(first.changes).toHaveLength(1);
    expect(first.sync.state()).toMatchObject({ ready: true, source: 'registry', consecutiveFailures: 2, agents: 2 });
    expect(first.sync.state().lastError).toMatch(/ECONNREFUSED/);
    expect(await metricValue(first.register, 'meshdns_registry_up')).toBe(0);
    expect(await metricValue(first.register, 'meshdns_registry_poll_failures_total', { reason: 'connect' })).toBe(2);
    expect(first.log.warnings().filter((line) => line.msg.startsWith('registry poll failed'))).toHaveLength(1);
    // No write on failure: the file still holds the last good projection.
    expect(await metricValue(first.register, 'meshdns_registry_snapshot_writes_total', { result: 'success' })).toBe(1);
    await first.sync.stop();

    // A restart of mesh-dns while the registry is still down.
    const second = createSync(registry.url, { snapshotPath });
    await second.sync.start();
    expect(second.changes).toEqual([{ source: 'snapshot', agents: served, updatedAt: Date.parse(saved.snapshot?.savedAt ?? ''), registryUrl: registry.url }]);
    expect(second.sync.state()).toMatchObject({ ready: true, source: 'snapshot', lastSuccessAt: null, consecutiveFailures: 1, agents: 2 });
    expect(await metricValue(second.register, 'meshdns_registry_agents')).toBe(2);
  });
});

describe('registry sync: snapshot writes spaced by snapshotInterval', () => {
  const setup = registryAndDirectory('mesh-dns-sync-interval-');

  const INTERVAL_MS = 1500;
  const writes = (register: Registry, result: 'success' | 'failure') => metricValue(register, 'meshdns_registry_snapshot_writes_total', { result });
  const storedIds = async (path: string) => (await loadSnapshot(path)).snapshot?.agents.map((agent) => agent.id);

  it('writes the first projection at once, later changes together once the interval has passed, and what is left at stop', async () => {
    const { registry, dir } = setup;
    const snapshotPath = join(dir, 'spaced', 'registry-snapshot.json');
    await registry.heartbeat(agentBody('alpha-00000001', 'alpha', '10.0.1.1', 8000));
    const { sync, register, changes } = createSync(registry.url, { snapshotPath, snapshotIntervalMs: INTERVAL_MS });
    await sync.start();
    const firstWriteAt = performance.now();
    expect(await writes(register, 'success')).toBe(1);
    expect(await storedIds(snapshotPath)).toEqual(['alpha-00000001']);

    // Two changes inside the interval: served at once, neither written yet.
    await registry.heartbeat(agentBody('bravo-00000002', 'bravo', '10.0.1.2', 8000));
    expect(await sync.pollNow()).toMatchObject({ result: 'changed', agents: 2 });
    await registry.heartbeat(agentBody('charlie-00000003', 'charlie', '10.0.1.3', 8000));
    expect(await sync.pollNow()).toMatchObject({ result: 'changed', agents: 3 });
    expect(changes.at(-1)?.agents.map((agent) => agent.id)).toEqual(['alpha-00000001', 'bravo-00000002', 'charlie-00000003']);
    expect(await writes(register, 'success')).toBe(1);
    expect(await storedIds(snapshotPath)).toEqual(['alpha-00000001']);
    // /ready says a change is waiting for the file.
    expect(sync.state().snapshot).toMatchObject({ unsaved: true, savedAt: expect.any(Number), writeFailing: false });

    // Both in one write, not before the interval (no poll is needed: the timer writes).
    const deadline = performance.now() + INTERVAL_MS + 3000;
    while (((await writes(register, 'success')) ?? 0) < 2 && performance.now() < deadline) await sleep(20);
    const secondWriteSeen = performance.now();
    expect(await writes(register, 'success')).toBe(2);
    expect(secondWriteSeen - firstWriteAt).toBeGreaterThanOrEqual(INTERVAL_MS - 50);
    expect(await storedIds(snapshotPath)).toEqual(['alpha-00000001', 'bravo-00000002', 'charlie-00000003']);
    expect(sync.state().snapshot).toMatchObject({ unsaved: false });

    // A change, then a stop before the interval has passed: written by stop().
    await registry.heartbeat(agentBody('delta-00000004', 'delta', '10.0.1.4', 8000));
    expect(await sync.pollNow()).toMatchObject({ result: 'changed', agents: 4 });
    expect(await writes(register, 'success')).toBe(2);
    await sync.stop();
    expect(await writes(register, 'success')).toBe(3);
    expect(await storedIds(snapshotPath)).toEqual(['alpha-00000001', 'bravo-00000002', 'charlie-00000003', 'delta-00000004']);
    expect(await writes(register, 'failure')).toBe(0);
  });

  it('retries a snapshot it cannot write once per interval, not once per poll', async () => {
    const { registry, dir } = setup;
    const blocker = join(dir, 'blocker');
    await writeFile(blocker, 'a file where the snapshot directory should be');
    const snapshotPath = join(blocker, 'registry-snapshot.json');
    const interval = 300;
    const { sync, register } = createSync(registry.url, { snapshotPath, snapshotIntervalMs: interval });
    await sync.start();
    expect(await writes(register, 'failure')).toBe(1);
    // Twenty unchanged polls in ~1 s: each would retry the write without the interval.
    const started = performance.now();
    for (let poll = 0; poll < 20; poll++) {
      expect(await sync.pollNow()).toMatchObject({ result: 'unchanged' });
      await sleep(50);
    }
    const elapsed = performance.now() - started;
    const failures = await writes(register, 'failure');
    expect(failures).toBeGreaterThanOrEqual(2);
    expect(failures).toBeLessThanOrEqual(1 + Math.ceil(elapsed / interval));
    expect(await writes(register, 'success')).toBe(0);
  });
});
