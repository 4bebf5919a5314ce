/*
 * The zone's own memory and change cost at scale, in-process (issue 9 items 4 and 5): no registry,
 * no sockets. Instances shaped like the registry benches' agents (registry-load.ts: id
 * agent-NNNNN-00000000, name agent-N, one IPv4 address in 10/8, capabilities cap_<N % 50> and
 * tool_<N % 7>), the default reverse zones. For each count: heap after gc (heapUsed + external)
 * held by an IncrementalZone (what mesh-dns serves from) and by compileZone's output alone, the
 * time of the first build, and of one agent moving (the median and worst of 20 moves).
 *
 *   npx node --expose-gc test/bench/zone-scale.ts                 # 10,000 and 100,000 agents
 *   npx node --expose-gc test/bench/zone-scale.ts --agents 20000
 */

import { parseArgs } from 'node:util';
import { compileZone, type MeshInstance, type ZoneCompileOptions } from '../../src/zone/compile.ts';
import { IncrementalZone } from '../../src/zone/incremental.ts';
import { reverseZonesForCidr } from '../../src/zone/reverse.ts';

const gc = (globalThis as { gc?: () => void }).gc;

/** mesh.local with the reverse zones of the private ranges, TTL 5 (zone-heap.ts measures the same). */
export const OPTIONS: ZoneCompileOptions = {
  zone: 'mesh.local', ttl: 5, negativeTtl: 5, serial: 1,
  reverseZones: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'].flatMap(reverseZonesForCidr),
};

/** Agent `index` as the registry benches register it (the projection's strings, one object each). */
export function benchInstance(index: number, address = `10.${(index >> 16) & 0xff}.${(index >> 8) & 0xff}.${index & 0xff}`): MeshInstance {
  return {
    id: `agent-${String(index).padStart(5, '0')}-00000000`.slice(0, 20), name: `agent-${index}`, scheme: 'http', port: 8000,
    addresses: [address], version: '1.0.0', runtime: 'python', agentType: 'mcp_agent',
    capabilities: [{ name: `cap_${index % 50}`, version: '1.0.0' }, { name: `tool_${index % 7}`, version: '1.0.0' }],
  };
}

function heap(): number {
  gc!();
  gc!();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

if (import.meta.main) await main();

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { agents: { type: 'string', default: '10000,100000' } } });
  if (!gc) throw new Error('run with --expose-gc');
  for (const count of values.agents.split(',').map(Number)) await measure(count);
}

async function measure(count: number): Promise<void> {
  const instances = Array.from({ length: count }, (_, index) => benchInstance(index));
  let before = heap();
  let compiled: unknown = compileZone(instances, [], OPTIONS);
  const compiledBytes = heap() - before;
  compiled = null;
  before = heap();
  const started = performance.now();
  const zone = new IncrementalZone([], OPTIONS);
  zone.apply(instances, 2);
  const buildMs = performance.now() - started;
  const zoneBytes = heap() - before;
  const moves: number[] = [];
  for (let move = 0; move < 20; move++) {
    const index = (move * 7919) % count;
    const moved = benchInstance(index, `10.250.${move}.1`);
    const at = performance.now();
    zone.applyChanged([moved], 3 + move);
    moves.push(performance.now() - at);
  }
  moves.sort((a, b) => a - b);
  console.log(`${count} agents (${zone.zones.stats.names} names, ${zone.zones.stats.records} records): IncrementalZone ${(zoneBytes / 1048576).toFixed(1)} MiB = ${(zoneBytes / count).toFixed(0)} B/agent (compileZone's output alone ${(compiledBytes / count).toFixed(0)} B/agent); first build ${buildMs.toFixed(0)} ms; one agent moving: median ${moves[10]!.toFixed(1)} ms, worst ${moves.at(-1)!.toFixed(1)} ms`);
  void compiled;
}

