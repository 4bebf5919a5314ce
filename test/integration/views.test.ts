// Views by client network (issue 8 item 5) end to end: the real registry binary with agents
// registered (POST /heartbeat) into three namespaces, mesh-dns (the real CLI) with the three-tier
// example config, and dig from three loopback source addresses (any 127/8 address can be a
// source: dig -b) plus one in no view. The full matrix is asserted and printed.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { addressesOf, dig, type DigResult } from '../support/dig.ts';
import { eventually, REPO_ROOT, startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { stopAllProcesses } from '../support/processes.ts';
import { agentBody, startRegistry, type TestRegistry } from '../support/registry.ts';
import { skipUnless } from '../support/tools.ts';

const POLL_MS = 300;
const CLIENTS = { dmz: '127.0.0.2', app: '127.0.0.3', data: '127.0.0.4', none: '127.0.0.5' } as const;
type Client = keyof typeof CLIENTS;
const AGENTS = [
  { id: 'web-aaaa0001', name: 'web', namespace: 'dmz', address: '10.10.1.5' },
  { id: 'api-aaaa0002', name: 'api', namespace: 'app', address: '10.10.2.5' },
  { id: 'db-aaaa0003', name: 'db', namespace: 'data', address: '10.10.3.5' },
  // In the registry's default namespace, which no view lists: visible nowhere.
  { id: 'plain-aaaa0004', name: 'plain', namespace: 'default', address: '10.10.9.5' },
];
const REGISTRY_ADDRESS = '10.10.0.2'; // the example's static record

/** The example file with its networks swapped for the test's loopback sources. */
function threeTierConfig(): string {
  const config = parseYaml(readFileSync(`${REPO_ROOT}/config/examples/views-three-tier.yaml`, 'utf8')) as Record<string, Record<string, unknown>>;
  delete config['listen'];
  config['access'] = { meshNetworks: ['127.0.0.0/8'], recursionNetworks: ['127.0.0.0/8'] };
  const views = config['views']!['list'] as { name: Client; networks: string[] }[];
  for (const view of views) view.networks = [`${CLIENTS[view.name]}/32`];
  return stringifyYaml(config);
}

type Outcome = string;
function outcome(result: DigResult): Outcome {
  if (result.status !== 'NOERROR') return result.status;
  const addresses = addressesOf(result);
  return `A ${addresses.join(',')}${result.flags.includes('aa') ? ' aa' : ''}`;
}

describe.skipIf(skipUnless('views integration', ['dig']))('views by client network against the real registry (issue 8 item 5)', () => {
  let registry: TestRegistry;
  let mesh: MeshDnsProcess;
  let pinger: NodeJS.Timeout | undefined;
  const heartbeat = (agent: (typeof AGENTS)[number]) => registry.heartbeat({ ...agentBody(agent.id, agent.name, agent.address, 8080), namespace: agent.namespace });
  const ask = (client: Client, name: string) => dig('127.0.0.1', mesh.dnsPort, name, 'A', ['-b', CLIENTS[client]]);

  beforeAll(async () => {
    registry = await startRegistry();
    for (const agent of AGENTS) await heartbeat(agent);
    pinger = setInterval(() => {
      for (const agent of AGENTS) void registry.ping(agent.id).catch(() => undefined);
    }, 1000);
    mesh = await startMeshDnsProcess({ configYaml: threeTierConfig(), env: { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_REGISTRY_POLL_INTERVAL: `${POLL_MS}ms` } });
    await eventually(async () => (await fetch(`${mesh.httpUrl}/ready`)).status === 200, 10_000);
  });

  afterAll(async () => {
    clearInterval(pinger);
    await stopAllProcesses();
  });

  it('answers the dmz/app/data matrix: visible names A + aa, hidden NXDOMAIN, no view REFUSED, the registry everywhere', async () => {
    const a = (address: string) => `A ${address} aa`;
    const expected: Record<string, Record<Client, Outcome>> = {
      'web.dmz.mesh.local': { dmz: a('10.10.1.5'), app: 'NXDOMAIN', data: 'NXDOMAIN', none: 'REFUSED' },
      'api.app.mesh.local': { dmz: a('10.10.2.5'), app: a('10.10.2.5'), data: 'NXDOMAIN', none: 'REFUSED' },
      'db.data.mesh.local': { dmz: 'NXDOMAIN', app: a('10.10.3.5'), data: a('10.10.3.5'), none: 'REFUSED' },
      'web.mesh.local': { dmz: a('10.10.1.5'), app: 'NXDOMAIN', data: 'NXDOMAIN', none: 'REFUSED' },
      'api.mesh.local': { dmz: 'NXDOMAIN', app: a('10.10.2.5'), data: 'NXDOMAIN', none: 'REFUSED' },
      'db.mesh.local': { dmz: 'NXDOMAIN', app: 'NXDOMAIN', data: a('10.10.3.5'), none: 'REFUSED' },
      'plain.mesh.local': { dmz: 'NXDOMAIN', app: 'NXDOMAIN', data: 'NXDOMAIN', none: 'REFUSED' },
      'plain.default.mesh.local': { dmz: 'NXDOMAIN', app: 'NXDOMAIN', data: 'NXDOMAIN', none: 'REFUSED' },
      'registry.mesh.local': { dmz: a(REGISTRY_ADDRESS), app: a(REGISTRY_ADDRESS), data: a(REGISTRY_ADDRESS), none: 'REFUSED' },
    };
    const seen: Record<string, Record<Client, Outcome>> = {};
    for (const name of Object.keys(expected)) {
      seen[name] = {} as Record<Client, Outcome>;
      for (const client of Object.keys(CLIENTS) as Client[]) {
        const result = await ask(client, name);
        seen[name][client] = outcome(result);
        if (result.status === 'NXDOMAIN') {
          // An authoritative negative answer with the zone's SOA (RFC 2308 §3), as for any absent name.
          expect(result.flags, `${client} ${name}`).toContain('aa');
          expect(result.authority.map((record) => record.type), `${client} ${name}`).toEqual(['SOA']);
        }
        if (result.status === 'REFUSED') expect(result.ede?.code, `${client} ${name}`).toBe(18);
      }
    }
    const columns = Object.keys(CLIENTS) as Client[];
    const table = [
      `| name | ${columns.map((client) => `${client} (${CLIENTS[client]})`).join(' | ')} |`,
      `| --- | ${columns.map(() => '---').join(' | ')} |`,
      ...Object.entries(seen).map(([name, row]) => `| ${name} | ${columns.map((client) => row[client]).join(' | ')} |`),
    ].join('\n');
    console.log(`verified view matrix (dig -b <source> @127.0.0.1 A):\n${table}`);
    expect(seen).toEqual(expected);
  });

  it('follows an agent that re-registers into another namespace at the next poll', async () => {
    await registry.heartbeat({ ...agentBody('api-aaaa0002', 'api', '10.10.2.5', 8080), namespace: 'data' });
    await eventually(async () => (await ask('data', 'api.data.mesh.local')).status === 'NOERROR', 10_000);
    expect(outcome(await ask('app', 'api.data.mesh.local'))).toBe('A 10.10.2.5 aa');
    expect((await ask('app', 'api.app.mesh.local')).status).toBe('NXDOMAIN');
    expect((await ask('app', 'api.mesh.local')).status).toBe('NXDOMAIN');
    expect(outcome(await ask('data', 'api.mesh.local'))).toBe('A 10.10.2.5 aa');
    expect((await ask('dmz', 'api.app.mesh.local')).status).toBe('NXDOMAIN');
    await heartbeat(AGENTS[1]!);
  });

  it('polls each namespace on its own: the log names them and /ready counts every visible agent once', async () => {
    expect(mesh.process.output()).toMatch(/"namespaces":\["app","data","dmz"\]/);
    const ready = (await (await fetch(`${mesh.httpUrl}/ready`)).json()) as { registry: { agents: number } };
    // plain-aaaa0004 (namespace "default") is not polled at all.
    expect(ready.registry.agents).toBe(3);
  });
});
