/*
 * Registry-side figures for mesh-dns, against the REAL MCP Mesh registry binary on loopback:
 *   1. registry change → DNS latency: an agent moves to a new address (a heartbeat with a new
 *      http_host; the registry writes no event for this, so only the periodic poll sees it) and a
 *      new agent registers (an event: the /events hint may see it sooner). N changes each, with
 *      mesh-dns on its default 2 s poll; prints median and worst.
 *   2. RSS of mesh-dns with 1,000 and 10,000 registered agents (VmRSS and VmHWM after the zone
 *      is loaded and every agent's name and id has been asked once, so answers are encoded).
 *
 *   npx node test/bench/registry-scale.ts                       # 20 changes, 1,000 and 10,000 agents
 *   npx node test/bench/registry-scale.ts --changes 5 --agents 1000
 */

import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { MAIN, REPO_ROOT, startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { stopAllProcesses } from '../support/processes.ts';
import { agentBody, startRegistry } from '../support/registry.ts';
import { queryA, registerMany, rssOf, waitFor } from './registry-load.ts';

const { values } = parseArgs({ options: { changes: { type: 'string', default: '20' }, agents: { type: 'string', default: '1000,10000' }, poll: { type: 'string', default: '2s' } } });
const CHANGES = Number(values.changes);
// Measure what ships (the npm package and the image run dist/*.js): running src/*.ts directly
// loads Node's type-stripping compiler too, about 30 MiB more RSS.
execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', join(REPO_ROOT, 'tsconfig.build.json')]);
const shipped = (command: string[]) => command.map((part) => (part === MAIN ? join(REPO_ROOT, 'dist/main.js') : part));
const AGENT_COUNTS = values.agents.split(',').map(Number);

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `${label}: n=${sorted.length} median ${median.toFixed(0)} ms, worst ${sorted.at(-1)!.toFixed(0)} ms, best ${sorted[0]!.toFixed(0)} ms`;
}

async function measureLatency(): Promise<void> {
  const registry = await startRegistry();
  await registry.heartbeat(agentBody('mover-00000001', 'mover', '10.1.0.1', 8000));
  const mesh = await startMeshDnsProcess({ env: { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_REGISTRY_POLL_INTERVAL: values.poll, MESH_DNS_LOG_LEVEL: 'warn' }, wrap: shipped });
  await waitFor(async () => (await queryA(mesh.dnsPort, 'mover.mesh.local')).join() === '10.1.0.1', 10_000);
  const moves: number[] = [];
  const registrations: number[] = [];
  for (let change = 0; change < CHANGES; change++) {
    // Random phase against the poll timer, as real changes have.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 2000));
    const host = `10.1.${1 + change}.${1 + (change % 250)}`;
    const moved = performance.now();
    await registry.heartbeat(agentBody('mover-00000001', 'mover', host, 8000));
    await waitFor(async () => (await queryA(mesh.dnsPort, 'mover.mesh.local')).join() === host, 10_000);
    moves.push(performance.now() - moved);

    const name = `newcomer${change}`;
    const registered = performance.now();
    await registry.heartbeat(agentBody(`${name}-0000abcd`, name, `10.2.0.${change + 1}`, 8000));
    await waitFor(async () => (await queryA(mesh.dnsPort, `${name}.mesh.local`)).length === 1, 10_000);
    registrations.push(performance.now() - registered);
  }
  console.log(`registry change → DNS latency, mesh-dns poll ${values.poll} (events hint 500 ms):`);
  console.log(`  ${summary('endpoint move (no registry event, seen by the poll)', moves)}`);
  console.log(`  ${summary('new agent (registry event, seen by the hint)', registrations)}`);
  await mesh.stop();
  await registry.stop();
}

async function measureMemory(count: number): Promise<void> {
  const registry = await startRegistry({ timeoutThreshold: 3600 });
  const registerStart = performance.now();
  await registerMany(registry, count);
  const registerSeconds = (performance.now() - registerStart) / 1000;
  let mesh: MeshDnsProcess | undefined;
  try {
    mesh = await startMeshDnsProcess({ env: { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_LOG_LEVEL: 'warn', MCP_MESH_NETWORK_TIMEOUT: '10s' }, wrap: shipped });
    const port = mesh.dnsPort;
    await waitFor(async () => (await queryA(port, `agent-${count - 1}.mesh.local`)).length === 1, 60_000);
    const loaded = rssOf(mesh.process.pid);
    for (let index = 0; index < count; index++) await queryA(port, `agent-${index}.mesh.local`);
    const queried = rssOf(mesh.process.pid);
    const metrics = await (await fetch(`${mesh.httpUrl}/metrics`)).text();
    const records = /meshdns_zone_records (\d+)/.exec(metrics)?.[1];
    console.log(`${count} agents (registered in ${registerSeconds.toFixed(1)} s; zone ${records} records): RSS after load ${loaded.rssMiB.toFixed(1)} MiB, after asking every name once ${queried.rssMiB.toFixed(1)} MiB, peak (VmHWM) ${queried.hwmMiB.toFixed(1)} MiB`);
  } finally {
    await mesh?.stop();
    await registry.stop();
  }
}

try {
  const idle = await startMeshDnsProcess({ wrap: shipped, env: { MESH_DNS_LOG_LEVEL: 'warn' } });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  console.log(`mesh-dns idle, no agents: RSS ${rssOf(idle.process.pid).rssMiB.toFixed(1)} MiB (dist/main.js)`);
  await idle.stop();
  console.log(`node ${process.version}, mcp-mesh-registry from @mcpmesh/cli-linux-x64, loopback only`);
  if (CHANGES > 0) await measureLatency();
  for (const count of AGENT_COUNTS) await measureMemory(count);
} finally {
  await stopAllProcesses();
}
