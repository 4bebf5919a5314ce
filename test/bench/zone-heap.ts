/*
 * What the zone's bytes are (issue 9 item 4): two heap snapshots of one process, before and after
 * an IncrementalZone of N agents is built (zone-scale.ts's agents), and the difference by V8 node
 * type and constructor name: count and self size. In-process, no registry, no sockets.
 *
 *   npx node --expose-gc test/bench/zone-heap.ts --agents 10000 [--top 25]
 */

import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { IncrementalZone } from '../../src/zone/incremental.ts';
import { benchInstance, OPTIONS } from './zone-scale.ts';

type Totals = Map<string, { count: number; bytes: number }>;

/** Self sizes summed by "type constructor" (strings by type only: their names are their text). */
function totalsOf(file: string): Totals {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const totals: Totals = new Map();
  for (let at = 0; at < snapshot.nodes.length; at += width) {
    const type = types[snapshot.nodes[at + typeAt]!]!;
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' ? '' : snapshot.strings[snapshot.nodes[at + nameAt]!]!;
    const key = `${type} ${name}`.slice(0, 80);
    const entry = totals.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[at + sizeAt]!;
    totals.set(key, entry);
  }
  return totals;
}

function snapshotTotals(): Totals {
  const file = join(tmpdir(), `zone-heap-${process.pid}-${Date.now()}.heapsnapshot`);
  writeHeapSnapshot(file);
  try {
    return totalsOf(file);
  } finally {
    rmSync(file, { force: true });
  }
}

const { values } = parseArgs({ options: { agents: { type: 'string', default: '10000' }, top: { type: 'string', default: '25' } } });
const count = Number(values.agents);
const instances = Array.from({ length: count }, (_, index) => benchInstance(index));
const before = snapshotTotals();
const zone = new IncrementalZone([], OPTIONS);
zone.apply(instances, 2);
const after = snapshotTotals();
const rows = [...after].map(([key, { count: n, bytes }]) => ({ key, count: n - (before.get(key)?.count ?? 0), bytes: bytes - (before.get(key)?.bytes ?? 0) }));
rows.sort((a, b) => b.bytes - a.bytes);
const total = rows.reduce((sum, row) => sum + row.bytes, 0);
console.log(`${count} agents: ${zone.zones.stats.names} names, ${zone.zones.stats.records} records; the zone adds ${(total / 1048576).toFixed(1)} MiB = ${(total / count).toFixed(0)} B per agent (self sizes)`);
for (const row of rows.slice(0, Number(values.top))) {
  console.log(`${(row.bytes / count).toFixed(0).padStart(6)} B/agent ${String(row.count).padStart(8)} × ${row.key}`);
}
