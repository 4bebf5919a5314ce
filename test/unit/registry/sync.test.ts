// Sync loop behaviour under faults the real registry binary cannot be made to produce (garbage
// bodies, wrong JSON types, 5xx, hangs). The normal path is tested against the real binary in
// test/integration/registry-sync.test.ts.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryConnectError, RegistryFormatError, RegistryHttpError, RegistryTimeoutError } from '../../../src/registry/errors.ts';
import { createRegistryMetrics } from '../../../src/registry/metrics.ts';
import { projectAgents } from '../../../src/registry/projection.ts';
import { saveSnapshot } from '../../../src/registry/snapshot-store.ts';
import {
  countByReason,
  createRegistrySync,
  describeWriteError,
  failureKey,
  FAILURE_LOG_INTERVAL_MS,
  newSkips,
  type RegistrySync,
  type RegistrySyncOptions,
} from '../../../src/registry/sync.ts';
import type { RegistrySnapshot, SkippedAgent } from '../../../src/registry/types.ts';
import { freePort } from '../../support/processes.ts';
import { agentInfo, agentsBody, captureLogger, metricValue } from '../../support/registry.ts';
import { hang, json, startFakeRegistry, type FakeRegistry } from './fake-registry.ts';

describe('failure log policy', () => {
  it('keys failures by kind, status and system code, not by message text', () => {
    expect(failureKey(new RegistryHttpError(503, 'http://a/agents'))).toBe('http:503');
    expect(failureKey(new RegistryConnectError('http://a/agents', 'ECONNREFUSED'))).toBe('connect:ECONNREFUSED');
    expect(failureKey(new RegistryTimeoutError('http://a/agents', 10))).toBe(failureKey(new RegistryTimeoutError('http://b/agents', 99)));
    expect(failureKey(new RegistryFormatError('NOT_JSON', 'x'))).toBe('format:NOT_JSON');
    expect(failureKey(new TypeError('bug'))).toBe('internal');
  });
});

describe('skip warning policy', () => {
  const wild: SkippedAgent = { id: 'wild-aaaa0001', reason: 'unspecified_address', endpoint: 'http://0.0.0.0:8000' };
  const local: SkippedAgent = { id: 'local-aaaa0002', reason: 'loopback', endpoint: 'http://localhost:8001' };

  it('warns once per (id, reason, endpoint) while the skip lasts', () => {
    const first = newSkips(new Set(), [wild, local]);
    expect(first.fresh).toEqual([wild, local]);
    const second = newSkips(first.keys, [wild, local]);
    expect(second.fresh).toEqual([]);
    const moved = { ...wild, endpoint: 'http://0.0.0.0:8001' };
    expect(newSkips(second.keys, [moved, local]).fresh).toEqual([moved]);
  });

  it('warns again when a skip comes back after it had gone', () => {
    const first = newSkips(new Set(), [wild]);
    const gone = newSkips(first.keys, []);
    expect(newSkips(gone.keys, [wild]).fresh).toEqual([wild]);
  });

  it('counts skips by reason', () => {
    expect([...countByReason([wild, local, { ...local, id: 'local-2' }])]).toEqual([
      ['unspecified_address', 1],
      ['loopback', 2],
    ]);
  });
});

describe('registry sync under registry faults', () => {
  let fake: FakeRegistry;
  let register: Registry;
  let syncs: RegistrySync[];
  let dir: string;

  beforeEach(async () => {
    fake = await startFakeRegistry((_req, res) => json(res, 200, agentsBody([agentInfo()])));
    register = new Registry();
    syncs = [];
    dir = await mkdtemp(join(tmpdir(), 'mesh-dns-sync-'));
  });
  afterEach(async () => {
    await Promise.all(syncs.map((sync) => sync.stop()));
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  function setup(overrides: Partial<RegistrySyncOptions> = {}) {
    const log = captureLogger();
    const changes: RegistrySnapshot[] = [];
    const sync = createRegistrySync({
      registryUrl: fake.url,
      pollIntervalMs: 60_000,
      requestTimeoutMs: 1000,
      snapshotPath: null,
      eventsHintIntervalMs: 0,
      resolveHostnames: false,
      logger: log.logger,
      metrics: createRegistryMetrics(register),
      onChange: (snapshot) => changes.push(snapshot),
      now: () => 1_700_000_000_000,
      ...overrides,
    });
    syncs.push(sync);
    return { sync, changes, log };
  }

  it('with namespaces: one GET /agents?namespace= per namespace per poll, each agent tagged; one namespace failing (a hostile body) keeps the whole last good zone', async () => {
    const byNamespace: Record<string, Record<string, unknown>[]> = {
      app: [agentInfo({ id: 'api-1', name: 'api', endpoint: 'http://10.0.2.5:8080' })],
      data: [agentInfo({ id: 'db-1', name: 'db', endpoint: 'http://10.0.3.5:8080' })],
    };
    fake.answer((req, res) => json(res, 200, agentsBody(byNamespace[new URL(req.url ?? '/', 'http://x').searchParams.get('namespace') ?? ''] ?? [])));
    const { sync, changes } = setup({ namespaces: ['data', 'app', 'data'] });
    expect(await sync.pollNow()).toMatchObject({ result: 'changed', agents: 2 });
    expect(fake.requests).toEqual(['GET /agents?namespace=data', 'GET /agents?namespace=app']);
    expect(changes[0]!.agents.map((agent) => [agent.id, agent.namespace])).toEqual([['api-1', 'app'], ['db-1', 'data']]);
    expect(await sync.pollNow()).toMatchObject({ result: 'unchanged' });

    // An agent that moves namespace is a change.
    byNamespace['data'] = [...byNamespace['data']!, byNamespace['app']![0]!];
    byNamespace['app'] = [];
    expect(await sync.pollNow()).toMatchObject({ result: 'changed', agents: 2 });
    expect(changes[1]!.agents.map((agent) => [agent.id, agent.namespace])).toEqual([['api-1', 'data'], ['db-1', 'data']]);

    // The data listing turns hostile (nested past the depth bound): the poll fails whole.
    fake.answer((req, res) => {
      if (req.url?.includes('namespace=data')) res.end(`{"agents":null,"x":${'['.repeat(100_000)}`);
      else json(res, 200, agentsBody([]));
    });
    expect(await sync.pollNow()).toMatchObject({ result: 'failed', reason: 'format' });
    expect(sync.state().lastErrorCode).toBe('TOO_DEEP');
    expect(changes).toHaveLength(2);
  });


  it.each([
    ['a garbage body', (res: ServerResponse) => res.end('<html>oops</html>'), 'format'],
    ['agents of the wrong type', (res: ServerResponse) => json(res, 200, { agents: 'none' }), 'format'],
    ['an agent with a numeric id', (res: ServerResponse) => json(res, 200, { agents: [agentInfo({ id: 7 })] }), 'format'],
    ['a 503', (res: ServerResponse) => json(res, 503, { error: 'overloaded' }), 'http'],
  ] as const)('keeps the last good zone after %s', async (_label, answer, reason) => {
    const { sync, changes } = setup();
    expect(await sync.pollNow()).toEqual({ result: 'changed', agents: 1, skipped: 0 });
    fake.answer((_req, res) => answer(res));
    expect(await sync.pollNow()).toMatchObject({ result: 'failed', reason });
    expect(await sync.pollNow()).toMatchObject({ result: 'failed', reason });

    expect(changes).toHaveLength(1);
    expect(sync.state()).toEqual({
      ready: true,
      source: 'registry',
      lastSuccessAt: 1_700_000_000_000,
      lastError: expect.any(String),
      lastErrorCode: expect.any(String),
      consecutiveFailures: 2,
      agents: 1,
      endpointProbe: { enabled: false },
      snapshot: null,
    });
    expect(await metricValue(register, 'meshdns_registry_polls_total', { result: 'success' })).toBe(1);
    expect(await metricValue(register, 'meshdns_registry_polls_total', { result: 'failure' })).toBe(2);
    expect(await metricValue(register, 'meshdns_registry_poll_failures_total', { reason })).toBe(2);
    expect(await metricValue(register, 'meshdns_registry_up')).toBe(0);
    expect(await metricValue(register, 'meshdns_registry_agents')).toBe(1);
    expect(await metricValue(register, 'meshdns_registry_last_success_timestamp_seconds')).toBe(1_700_000_000);
  });

  it.each([
    ['10 MB of nested brackets', () => Buffer.concat([Buffer.from('{"agents":null,"x":'), Buffer.alloc(10 * 1024 * 1024, '[')]), 'TOO_DEEP'],
    ['a body of brackets only', () => Buffer.alloc(1024 * 1024, '['), 'NOT_AN_OBJECT'],
    ['a body over the byte cap', () => Buffer.alloc(3 * 1024 * 1024, ' '), 'BODY_TOO_LARGE'],
    ['more agents than registry.maxAgents', () => Buffer.from(JSON.stringify(agentsBody([agentInfo({ id: 'a-1' }), agentInfo({ id: 'a-2' }), agentInfo({ id: 'a-3' })]))), 'TOO_MANY_AGENTS'],
  ])('refuses %s as a hostile body: last good zone kept, code in state and metric', async (_label, body, code) => {
    const { sync, changes } = setup({ maxBodyBytes: 2 * 1024 * 1024, bodyLimits: { maxAgents: 2 } });
    expect(await sync.pollNow()).toMatchObject({ result: 'changed' });
    const payload = body();
    fake.answer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let offset = 0; offset < payload.length; offset += 64 * 1024) res.write(payload.subarray(offset, offset + 64 * 1024));
      res.end();
    });
    expect(await sync.pollNow()).toMatchObject({ result: 'failed', reason: 'format' });
    expect(changes).toHaveLength(1);
    expect(sync.state()).toMatchObject({ ready: true, agents: 1, lastErrorCode: code, consecutiveFailures: 1 });
    expect(await metricValue(register, 'meshdns_registry_rejected_bodies_total', { code: code.toLowerCase() })).toBe(1);
  });

  it('reports a snapshot it cannot write once (not per poll), in state and metric, and its recovery', async () => {
    const blocker = join(dir, 'state');
    await writeFile(blocker, 'not a directory');
    const path = join(blocker, 'snap.json');
    const { sync, log } = setup({ snapshotPath: path });
    expect(await sync.pollNow()).toMatchObject({ result: 'changed' });
    fake.answer((_req, res) => json(res, 200, agentsBody([agentInfo({ endpoint: 'http://10.0.0.12:8081' })])));
    expect(await sync.pollNow()).toMatchObject({ result: 'changed' });
    fake.answer((_req, res) => json(res, 200, agentsBody([agentInfo()])));
    for (let i = 0; i < 5; i++) await sync.pollNow();
    const lines = log.lines.filter((line) => line.msg === 'cannot write registry snapshot file');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, path, code: 'EEXIST' }); // mkdir -p through a regular file
    expect(lines[0]).not.toHaveProperty('err');
    expect(sync.state().snapshot).toMatchObject({ path, writeFailing: true, writeError: expect.stringContaining('EEXIST'), failingSince: 1_700_000_000_000 });
    expect(await metricValue(register, 'meshdns_registry_snapshot_write_failing')).toBe(1);
    expect(await metricValue(register, 'meshdns_registry_snapshot_writes_total', { result: 'failure' })).toBeGreaterThanOrEqual(2);

    await rm(blocker);
    await sync.pollNow();
    expect(sync.state().snapshot).toMatchObject({ writeFailing: false, writeError: null, failingSince: null });
    expect(await metricValue(register, 'meshdns_registry_snapshot_write_failing')).toBe(0);
    expect(log.lines.filter((line) => line.msg === 'registry snapshot file written again')).toHaveLength(1);
  });

  it('names the directory owner and its own uid when a snapshot write is refused (bind mount of another owner)', async () => {
    const refused = Object.assign(new Error(`EACCES: permission denied, open '${dir}/.snap.json.1.tmp'`), { code: 'EACCES' });
    const text = await describeWriteError(refused, join(dir, 'snap.json'));
    expect(text).toMatch(new RegExp(`directory ${dir} is owned by uid \\d+ gid \\d+ mode 700; mesh-dns runs as uid ${process.getuid!()}`));
  });

  it('loads a snapshot with bad addresses, skipping and counting them, and serves the rest', async () => {
    const path = join(dir, 'snap.json');
    const { agents } = projectAgents(agentsBody([agentInfo({ id: 'good-1' }), agentInfo({ id: 'bad-1' }), agentInfo({ id: 'bad-2' })]));
    const stored = agents.map((agent) => agent.id === 'bad-1' ? { ...agent, addresses: ['999.1.1.1'] } : agent.id === 'bad-2' ? { ...agent, addresses: ['fd00::zz'] } : agent);
    await writeFile(path, JSON.stringify({ version: 1, savedAt: '2026-11-22T02:00:00.000Z', registryUrl: fake.url, agents: stored }));
    await writeFile(join(dir, '.snap.json.77.0badf00d.tmp'), 'half a snapshot');
    fake.answer(hang());
    const { sync, changes } = setup({ snapshotPath: path, requestTimeoutMs: 100 });
    await sync.start();
    expect(changes[0]?.agents.map((agent) => agent.id)).toEqual(['good-1']);
    expect(sync.state()).toMatchObject({ ready: true, source: 'snapshot', snapshot: { skippedAtLoad: 2 } });
    expect(await metricValue(register, 'meshdns_registry_snapshot_skipped_agents', { reason: 'invalid_address' })).toBe(2);
    expect(await readdir(dir)).toEqual(['snap.json']);
  });

  it('times out a registry that hangs, within the request timeout', async () => {
    const { sync } = setup({ requestTimeoutMs: 200 });
    fake.answer(hang());
    const startedAt = Date.now();
    expect(await sync.pollNow()).toMatchObject({ result: 'failed', reason: 'timeout' });
    expect(Date.now() - startedAt).toBeLessThan(1500);
    expect(sync.state()).toMatchObject({ ready: false, source: 'none', consecutiveFailures: 1 });
    expect(await metricValue(register, 'meshdns_registry_poll_failures_total', { reason: 'timeout' })).toBe(1);
  });

  it('rate-limits failure warnings: first failure, change of kind, then recovery at info', async () => {
    const { sync, log } = setup();
    fake.answer((_req, res) => res.end('garbage'));
    for (let i = 0; i < 4; i++) await sync.pollNow();
    fake.answer((_req, res) => json(res, 500, {}));
    for (let i = 0; i < 3; i++) await sync.pollNow();
    fake.answer((_req, res) => json(res, 200, agentsBody([agentInfo()])));
    await sync.pollNow();

    const failures = log.warnings().filter((line) => line.msg.startsWith('registry poll failed'));
    expect(failures.map((line) => [line['reason'], line['consecutiveFailures']])).toEqual([
      ['format', 1],
      ['http', 5],
    ]);
    const recovered = log.lines.filter((line) => line.msg === 'registry reachable again');
    expect(recovered.map((line) => [line.level, line['failures']])).toEqual([[30, 7]]);
    expect(sync.state()).toMatchObject({ consecutiveFailures: 0, lastError: null, ready: true });
  });

  it('logs each kind of failure once per FAILURE_LOG_INTERVAL_MS however kinds alternate, with the count in between', async () => {
    let clock = 1_700_000_000_000;
    const { sync, log } = setup({ now: () => clock });
    for (let i = 0; i < 10; i++) {
      fake.answer(i % 2 === 0 ? (_req, res) => res.end('garbage') : (_req, res) => json(res, 503, {}));
      await sync.pollNow();
      clock += 2000;
    }
    const failures = () => log.warnings().filter((line) => line.msg === 'registry poll failed; keeping the current zone');
    expect(failures().map((line) => [line['reason'], line['code'], line['consecutiveFailures']])).toEqual([['format', 'NOT_JSON', 1], ['http', 'REGISTRY_HTTP_STATUS', 2]]);
    clock += FAILURE_LOG_INTERVAL_MS;
    fake.answer((_req, res) => res.end('garbage'));
    await sync.pollNow();
    expect(failures().at(-1)).toMatchObject({ reason: 'format', consecutiveFailures: 11, suppressedSinceLastLog: 4 });
  });

  it('stop() aborts a hanging poll at once and does not count it as a failure', async () => {
    const { sync } = setup({ requestTimeoutMs: 10_000 });
    fake.answer(hang());
    const poll = sync.pollNow();
    await waitFor(() => fake.requests.length === 1);
    const startedAt = Date.now();
    await sync.stop();
    expect(await poll).toEqual({ result: 'stopped' });
    expect(Date.now() - startedAt).toBeLessThan(1000);
    expect(await metricValue(register, 'meshdns_registry_polls_total', { result: 'failure' })).toBe(0);
    expect(await sync.pollNow()).toEqual({ result: 'stopped' });
  });

  it('coalesces pollNow calls made during a poll into one follow-up poll', async () => {
    const held: ServerResponse[] = [];
    fake.answer((_req, res) => held.push(res));
    const { sync } = setup();
    const first = sync.pollNow();
    await waitFor(() => held.length === 1);
    const second = sync.pollNow();
    const third = sync.pollNow();
    expect(second).toBe(third);
    expect(fake.requests).toEqual(['GET /agents']);
    fake.answer((_req, res) => json(res, 200, agentsBody([agentInfo()])));
    json(held[0] as ServerResponse, 200, agentsBody([agentInfo()]));
    expect(await first).toMatchObject({ result: 'changed' });
    expect(await second).toMatchObject({ result: 'unchanged' });
    expect(fake.requests).toEqual(['GET /agents', 'GET /agents']);
  });

  it('starts without a snapshot when the file is corrupt, and says why', async () => {
    const path = join(dir, 'snap.json');
    await writeFile(path, '{"version":1,"agents":[');
    const down = `http://127.0.0.1:${await freePort()}`;
    const { sync, changes, log } = setup({ registryUrl: down, snapshotPath: path });
    await sync.start();
    expect(changes).toEqual([]);
    expect(sync.state()).toMatchObject({ ready: false, source: 'none', consecutiveFailures: 1, agents: 0 });
    expect(log.lines.find((line) => line.msg === 'starting without a registry snapshot')).toMatchObject({ reason: 'snapshot file is not JSON' });
  });

  it('ignores a snapshot saved from another registry URL', async () => {
    const path = join(dir, 'snap.json');
    const down = `http://127.0.0.1:${await freePort()}`;
    const { agents } = projectAgents(agentsBody([agentInfo()]));
    await saveSnapshot(path, 'http://other-registry:8000', agents, new Date(0));
    const { sync, changes, log } = setup({ registryUrl: down, snapshotPath: path });
    await sync.start();
    expect(changes).toEqual([]);
    expect(sync.state().source).toBe('none');
    expect(log.warnings().map((line) => line.msg)).toContain('ignoring snapshot of another registry');
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
