// Issue 7 item 5, the seed problem: an agent's HTTP server listens on `::` with IPV6_V6ONLY while
// the agent advertises an IPv4 address, so IPv4 clients are refused. With registry.probeEndpoints
// mesh-dns (the real CLI, following the real registry binary) connects once per agent change and
// says so (log, metrics, /ready), while DNS keeps answering both agents unchanged.
//
// The agents' servers run in a network namespace created here, joined to this one by a veth pair
// on a /30 that exists only between the two ends: loopback addresses are left out of the zone on
// purpose (an agent advertising 127.0.0.1 is unreachable from any other host), so a non-loopback
// IPv4 address is needed, and the test may send to no address it did not create.
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressesOf, dig } from '../support/dig.ts';
import { eventually, NODE_BINARY, startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { startProcess, stopAllProcesses, type StartedProcess } from '../support/processes.ts';
import { agentBody, startRegistry, type TestRegistry } from '../support/registry.ts';
import { skipUnless } from '../support/tools.ts';

// A private network namespace with a veth pair.
const NAMESPACE_UNAVAILABLE = skipUnless('endpoint probe integration', ['ip', 'dig'], { root: 'the test makes network namespaces with unshare' });

const NAMESPACE = `mdns-probe-${process.pid}`;
// Interface names are at most 15 bytes.
const VETH_HOST = `mdp${process.pid % 100000}a`;
const VETH_AGENTS = `mdp${process.pid % 100000}b`;
const SUBNET_OCTET = 100 + (process.pid % 150);
const HOST_SIDE = `10.253.${SUBNET_OCTET}.1`;
const AGENT_ADDRESS = `10.253.${SUBNET_OCTET}.2`;
const V6ONLY_PORT = 8081;
const DUAL_PORT = 8082;
const POLL_MS = 300;

// Two HTTP servers, as two agents would run them: one on `::` with ipv6Only (the seed's bug), one
// on `::` dual-stack. Every accepted connection is printed, so the test can count them.
const AGENT_SERVERS = `
const http = require('node:http');
const serve = (port, ipv6Only) => new Promise((resolve) => {
  const server = http.createServer((request, response) => response.end('ok'));
  server.on('connection', () => console.log('connection ' + port));
  server.listen({ host: '::', port, ipv6Only }, resolve);
});
Promise.all([serve(${V6ONLY_PORT}, true), serve(${DUAL_PORT}, false)]).then(() => console.log('agents listening'));
`;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function connectionsTo(server: StartedProcess, port: number): number {
  return server.output().split('\n').filter((line) => line === `connection ${port}`).length;
}

async function readiness(mesh: MeshDnsProcess): Promise<{ status: number; body: { registry: { endpointProbe: Record<string, unknown> } } }> {
  const response = await fetch(`${mesh.httpUrl}/ready`);
  return { status: response.status, body: (await response.json()) as { registry: { endpointProbe: Record<string, unknown> } } };
}

async function metric(mesh: MeshDnsProcess, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${mesh.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.skipIf(NAMESPACE_UNAVAILABLE)('endpoint probing against an agent bound to :: with ipv6Only (issue 7 item 5)', () => {
  let registry: TestRegistry;
  let agents: StartedProcess;
  let pinger: NodeJS.Timeout | undefined;
  const ids = ['v6only-aaaa0001', 'dual-aaaa0002'];

  beforeAll(async () => {
    ip('netns', 'add', NAMESPACE);
    ip('link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_AGENTS);
    ip('link', 'set', VETH_AGENTS, 'netns', NAMESPACE);
    ip('addr', 'add', `${HOST_SIDE}/30`, 'dev', VETH_HOST);
    ip('link', 'set', VETH_HOST, 'up');
    ip('-n', NAMESPACE, 'addr', 'add', `${AGENT_ADDRESS}/30`, 'dev', VETH_AGENTS);
    ip('-n', NAMESPACE, 'link', 'set', VETH_AGENTS, 'up');
    ip('-n', NAMESPACE, 'link', 'set', 'lo', 'up');
    agents = await startProcess({
      name: 'agent-servers',
      command: 'ip',
      args: ['netns', 'exec', NAMESPACE, NODE_BINARY, '-e', AGENT_SERVERS],
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
      ready: { output: /agents listening/ },
    });
    registry = await startRegistry();
    await registry.heartbeat(agentBody(ids[0]!, 'v6only', AGENT_ADDRESS, V6ONLY_PORT, [{ capability: 'forecast' }]));
    await registry.heartbeat(agentBody(ids[1]!, 'dual', AGENT_ADDRESS, DUAL_PORT, [{ capability: 'geocode' }]));
    pinger = setInterval(() => {
      for (const id of ids) void registry.ping(id).catch(() => undefined);
    }, 1000);
  });

  afterAll(async () => {
    clearInterval(pinger);
    await stopAllProcesses();
    // Deleting the namespace deletes its veth end, and with it the pair.
    try {
      ip('netns', 'del', NAMESPACE);
    } catch {
      // Not created (beforeAll failed early).
    }
  });

  it('reports ECONNREFUSED for the ipv6Only agent once, not the working one, and dig still answers both', async () => {
    const dualBefore = connectionsTo(agents, DUAL_PORT);
    const started = performance.now();
    const mesh = await startMeshDnsProcess({
      env: { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_REGISTRY_POLL_INTERVAL: `${POLL_MS}ms`, MESH_DNS_PROBE_ENDPOINTS: 'true', MESH_DNS_PROBE_TIMEOUT: '1s' },
    });
    await eventually(async () => (await readiness(mesh)).body.registry.endpointProbe['probed'] === 2, 10_000);
    const probedAfterMs = Math.round(performance.now() - started);

    const { status, body } = await readiness(mesh);
    expect(status).toBe(200);
    expect(body.registry.endpointProbe).toEqual({
      enabled: true,
      unreachable: 1,
      probed: 2,
      first: [{ id: 'v6only-aaaa0001', target: `${AGENT_ADDRESS}:${V6ONLY_PORT}`, reason: 'refused', code: 'ECONNREFUSED' }],
    });
    expect(await metric(mesh, 'meshdns_registry_unreachable_endpoints')).toBe(1);
    expect(await metric(mesh, 'meshdns_registry_endpoint_probe_failures_total{reason="refused"}')).toBe(1);
    expect(await metric(mesh, 'meshdns_registry_endpoint_probe_failures_total{reason="timeout"}')).toBe(0);
    // The working agent accepted exactly the one probe; the ipv6Only socket never saw the IPv4 SYN.
    expect(connectionsTo(agents, DUAL_PORT) - dualBefore).toBe(1);
    expect(connectionsTo(agents, V6ONLY_PORT)).toBe(0);

    // DNS does not guess: both names answer, authoritatively, with the advertised address.
    for (const name of ['v6only.mesh.local', 'dual.mesh.local']) {
      const answer = await dig('127.0.0.1', mesh.dnsPort, name, 'A');
      expect(answer.status, name).toBe('NOERROR');
      expect(answer.flags, name).toContain('aa');
      expect(addressesOf(answer), name).toEqual([AGENT_ADDRESS]);
    }

    // Ten more polls of the same registry state: no new probe, no new log line.
    await sleep(POLL_MS * 10);
    const warnings = mesh.process.output().split('\n').filter((line) => line.includes('agent endpoint does not accept connections'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"code":"ECONNREFUSED"');
    expect(warnings[0]).toContain('"agent":"v6only-aaaa0001"');
    expect(connectionsTo(agents, DUAL_PORT) - dualBefore).toBe(1);
    expect((await readiness(mesh)).body.registry.endpointProbe['probed']).toBe(2);

    // The agent is fixed (re-registers on the dual-stack port): one more probe, and it clears.
    await registry.heartbeat(agentBody(ids[0]!, 'v6only', AGENT_ADDRESS, DUAL_PORT, [{ capability: 'forecast' }]));
    await eventually(async () => (await readiness(mesh)).body.registry.endpointProbe['probed'] === 3, 10_000);
    expect((await readiness(mesh)).body.registry.endpointProbe).toMatchObject({ unreachable: 0, first: [] });
    expect(await metric(mesh, 'meshdns_registry_unreachable_endpoints')).toBe(0);
    expect(mesh.process.output()).toContain('agent endpoint accepts connections again');
    expect(connectionsTo(agents, DUAL_PORT) - dualBefore).toBe(2);
    console.log(`endpoint probe: both agents probed ${probedAfterMs} ms after mesh-dns start; 1 refused (ECONNREFUSED), 1 accepted; 0 further probes over 10 unchanged polls; 1 probe after the endpoint change`);
    await mesh.stop();
    await registry.heartbeat(agentBody(ids[0]!, 'v6only', AGENT_ADDRESS, V6ONLY_PORT, [{ capability: 'forecast' }]));
  });

  it('probing off (the default): no connection reaches either agent, /ready says disabled, dig answers both', async () => {
    const before = [connectionsTo(agents, V6ONLY_PORT), connectionsTo(agents, DUAL_PORT)];
    const mesh = await startMeshDnsProcess({ env: { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_REGISTRY_POLL_INTERVAL: `${POLL_MS}ms` } });
    await eventually(async () => (await readiness(mesh)).status === 200, 10_000);
    for (const name of ['v6only.mesh.local', 'dual.mesh.local']) {
      const answer = await dig('127.0.0.1', mesh.dnsPort, name, 'A');
      expect(answer.status, name).toBe('NOERROR');
      expect(addressesOf(answer), name).toEqual([AGENT_ADDRESS]);
    }
    await sleep(POLL_MS * 5);
    expect((await readiness(mesh)).body.registry.endpointProbe).toEqual({ enabled: false });
    expect([connectionsTo(agents, V6ONLY_PORT), connectionsTo(agents, DUAL_PORT)]).toEqual(before);
    expect(await metric(mesh, 'meshdns_registry_unreachable_endpoints')).toBe(0);
    await mesh.stop();
  });
});
