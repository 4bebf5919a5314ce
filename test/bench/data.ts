// Deterministic benchmark data: record sets and dnsperf query files.
import { writeFileSync } from 'node:fs';

export interface ARecord {
  /** Name relative to the zone, e.g. "agent-0007". */
  name: string;
  ipv4: string;
}

export interface ZoneData {
  /** Zone apex without trailing dot, e.g. "mesh.local". */
  zone: string;
  ttlSeconds: number;
  records: ARecord[];
}

export const MESH_ZONE = 'mesh.local';
export const FORWARD_ZONE = 'example.test';
export const FORWARD_NAMES = 100;

/** agent-0000 … agent-(n-1) under mesh.local; agent-i → 10.(i/62500).(i/250 % 250).(i % 250 + 1). */
export function meshZone(n: number, ttlSeconds = 5): ZoneData {
  if (!Number.isInteger(n) || n < 1 || n > 250 * 250 * 256) throw new Error(`--names out of range: ${n}`);
  const records: ARecord[] = [];
  for (let i = 0; i < n; i++) {
    const a = Math.floor(i / 62_500);
    const b = Math.floor(i / 250) % 250;
    const c = (i % 250) + 1;
    records.push({ name: `agent-${String(i).padStart(4, '0')}`, ipv4: `10.${a}.${b}.${c}` });
  }
  return { zone: MESH_ZONE, ttlSeconds, records };
}

/** svc-0000 … svc-0099 under example.test → 198.51.100.1 … 198.51.100.100 (TEST-NET-2), long TTL. */
export function forwardZone(ttlSeconds = 3600): ZoneData {
  const records: ARecord[] = [];
  for (let i = 0; i < FORWARD_NAMES; i++) {
    records.push({ name: `svc-${String(i).padStart(4, '0')}`, ipv4: `198.51.100.${i + 1}` });
  }
  return { zone: FORWARD_ZONE, ttlSeconds, records };
}

export function fqdn(zone: ZoneData, rec: ARecord): string {
  return `${rec.name}.${zone.zone}`;
}

/** dnsperf input: one "name A" line per record, each name once (dnsperf loops over the file). */
export function writeQueryFile(path: string, zone: ZoneData): void {
  writeFileSync(path, zone.records.map((r) => `${fqdn(zone, r)} A\n`).join(''));
}

/** The record the correctness probe asks for (agent-0007 when it exists) plus the last one. */
export function probeRecords(zone: ZoneData): ARecord[] {
  const first = zone.records[Math.min(7, zone.records.length - 1)];
  const last = zone.records[zone.records.length - 1];
  const out: ARecord[] = [];
  if (first) out.push(first);
  if (last && last !== first) out.push(last);
  return out;
}
