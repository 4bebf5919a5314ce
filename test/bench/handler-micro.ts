/*
 * In-process micro-benchmark of the query handler: CPU per query (process.cpuUsage over many
 * iterations), rounds interleaved over the scenarios. No sockets: this is the server's own
 * JavaScript per query, the part mesh-dns adds on top of the bare dgram loop. To compare two
 * versions, run it in both checkouts alternately (A, B, A, B). B/q: young-generation bytes
 * allocated per query (young-bytes.ts), with the reused response buffers the UDP listener passes.
 *
 *   npx node test/bench/handler-micro.ts [--iterations N] [--rounds R]
 */
import { parseArgs } from 'node:util';
import { createResponseBuffers } from '../../src/listeners/udp-response-buffers.ts';
import type { ClientInfo } from '../../src/pipeline/query-handler.ts';
import { buildQuery, makeHandler, meshInstance, UDP_CLIENT } from '../support/dns-messages.ts';
import { youngBytesPerCall } from './young-bytes.ts';

const { values } = parseArgs({ options: { iterations: { type: 'string' }, rounds: { type: 'string' } } });
const iterations = Number(values.iterations ?? 200_000);
const rounds = Number(values.rounds ?? 4);

const instances = Array.from({ length: 1000 }, (_, i) => meshInstance({ id: `agent-${String(i).padStart(4, '0')}`, name: `svc-${i}`, addresses: [`10.0.${i >> 8}.${i & 0xff}`] }));
const scenarios: Record<string, Buffer[]> = {
  'mesh A': instances.map((inst, i) => buildQuery({ id: i, name: `${inst.id}.mesh.local`, type: 'A' })),
  'mesh A, EDNS DO': instances.map((inst, i) => buildQuery({ id: i, name: `${inst.id}.mesh.local`, type: 'A', edns: { do: true } })),
  NXDOMAIN: instances.map((inst, i) => buildQuery({ id: i, name: `nope-${inst.id}.mesh.local`, type: 'A' })),
  NODATA: instances.map((inst, i) => buildQuery({ id: i, name: `${inst.id}.mesh.local`, type: 'MX' })),
};
const variants = { handler: makeHandler({ instances }).handler };
/** As the UDP listener passes it: reused response buffers, nothing queued. */
const client: ClientInfo = { ...UDP_CLIENT, responseBuffer: createResponseBuffers(() => 0) };

function measure(handler: (m: Buffer, c: ClientInfo) => unknown, queries: Buffer[]): number {
  for (let i = 0; i < 20_000; i++) handler(queries[i % queries.length]!, client);
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) handler(queries[i % queries.length]!, client);
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / iterations; // ns per query
}

for (const [name, queries] of Object.entries(scenarios)) {
  const results: Record<string, number[]> = { handler: [] };
  for (let round = 0; round < rounds; round++) {
    for (const [variant, handler] of Object.entries(variants)) results[variant]!.push(measure(handler, queries));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const line = Object.entries(results).map(([v, xs]) => {
    const bytes = youngBytesPerCall((i) => variants[v as keyof typeof variants](queries[i % queries.length]!, client));
    return `${v} ${median(xs).toFixed(0)} ns/q (${xs.map((x) => x.toFixed(0)).join(', ')})  ${bytes.toFixed(0)} B/q`;
  });
  console.log(`${name.padEnd(16)} ${line.join('   ')}`);
}
