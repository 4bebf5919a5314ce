// Names that collide (README "Names that collide"), end to end: agents registered on the REAL
// registry binary with POST /heartbeat, mesh-dns as a real process, dig as the client, and the
// metric that counts each loser. The registry validates ids and names as lowercase only for NEW
// agents; a second heartbeat renames an agent to anything (reference §9 pitfall 4), which is how
// `Web-1` and a name spelled with U+212A KELVIN SIGN reach mesh-dns.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressesOf, dig } from '../support/dig.ts';
import { eventually, startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { stopAllProcesses } from '../support/processes.ts';
import { agentBody, startRegistry, type TestRegistry } from '../support/registry.ts';
import { skipUnless } from '../support/tools.ts';

describe.skipIf(skipUnless('registry name collisions', ['dig']))('name collisions between agents of the real registry', () => {
  let registry: TestRegistry;
  let mesh: MeshDnsProcess;
  const q = (name: string, type = 'A') => dig('127.0.0.1', mesh.dnsPort, name, type);

  async function skipped(reason: string): Promise<number> {
    const metrics = await (await fetch(`${mesh.httpUrl}/metrics`)).text();
    return Number(new RegExp(`meshdns_zone_skipped_instances\\{reason="${reason}"\\} (\\d+)`).exec(metrics)?.[1] ?? 'NaN');
  }

  beforeAll(async () => {
    registry = await startRegistry();
    // The registry itself refuses a new id with capitals (reference §3.2): only renames get them in.
    await expect(registry.heartbeat(agentBody('Web-1', 'web', '10.0.0.2', 8080))).rejects.toThrow(/lowercase/);
    await registry.heartbeat(agentBody('web-1', 'web', '10.0.0.1', 8080, [{ capability: 'http' }]));
    await registry.heartbeat(agentBody('renamed-00000001', 'renamed', '10.0.0.2', 8080));
    await registry.heartbeat(agentBody('renamed-00000001', 'Web-1', '10.0.0.2', 8080));
    await registry.heartbeat(agentBody('weather-a1b2c3d4', 'weather', '10.0.0.11', 8081, [{ capability: 'forecast' }]));
    await registry.heartbeat(agentBody('other-00000002', 'weather-a1b2c3d4', '10.0.0.99', 8081));
    await registry.heartbeat(agentBody('weather', 'squatter', '10.0.0.66', 8081));
    await registry.heartbeat(agentBody('worker-00000004', 'worker', '10.0.0.4', 8080));
    await registry.heartbeat(agentBody('evil-00000005', 'evil', '10.0.0.5', 8080));
    await registry.heartbeat(agentBody('evil-00000005', 'wor\u212Aer', '10.0.0.5', 8080));
    const names = ((await registry.agents()).agents ?? []).map((agent) => `${agent['id']}=${agent['name']}`).sort();
    expect(names).toEqual(expect.arrayContaining(['renamed-00000001=Web-1', 'evil-00000005=wor\u212Aer', 'other-00000002=weather-a1b2c3d4']));
    mesh = await startMeshDnsProcess({ env: { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_REGISTRY_POLL_INTERVAL: '300ms' } });
    await eventually(async () => (await fetch(`${mesh.httpUrl}/ready`)).status === 200, 10_000);
  });

  afterAll(stopAllProcesses);

  it('`Web-1` (a renamed name) and `web-1` (an id) do not merge: the lowercase id answers, the rename is counted', async () => {
    const answer = await q('web-1.mesh.local');
    expect(answer.status).toBe('NOERROR');
    expect(answer.flags).toContain('aa');
    expect(addressesOf(answer)).toEqual(['10.0.0.1']);
    expect(addressesOf(await q('WEB-1.mesh.local'))).toEqual(['10.0.0.1']);
    const srv = await q('_http._tcp.mesh.local', 'SRV');
    expect(srv.answer.map((record) => record.data)).toEqual(['1 1 8080 web-1.mesh.local.']);
    expect(await skipped('name_collision')).toBe(1);
  });

  it('an agent whose name equals another\'s id: the name answers, the id\'s TXT and SRV are withdrawn, counted', async () => {
    expect(addressesOf(await q('weather-a1b2c3d4.mesh.local'))).toEqual(['10.0.0.99']);
    const txt = await q('weather-a1b2c3d4.mesh.local', 'TXT');
    expect(txt.status).toBe('NOERROR');
    expect(txt.answer).toEqual([]);
    expect((await q('_forecast._tcp.mesh.local', 'SRV')).answer).toEqual([]);
    // The service name itself is not taken by the agent whose id is `weather`.
    expect(addressesOf(await q('weather.mesh.local'))).toEqual(['10.0.0.11']);
    expect(addressesOf(await q('squatter.mesh.local'))).toEqual(['10.0.0.66']);
    expect(await skipped('id_collision')).toBe(2);
  });

  it('a name spelled with U+212A KELVIN SIGN does not claim `worker`; it is counted as not a label', async () => {
    expect(addressesOf(await q('worker.mesh.local'))).toEqual(['10.0.0.4']);
    expect(addressesOf(await q('evil-00000005.mesh.local'))).toEqual(['10.0.0.5']);
    expect(await skipped('invalid_name_label')).toBe(1);
    // One warning per loser, not one per poll (several polls have run by now).
    const lines = mesh.process.output().split('\n').filter((line) => line.includes('evil-00000005') && line.includes('invalid_name_label'));
    expect(lines).toHaveLength(1);
  });
});
