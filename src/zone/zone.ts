// The authoritative data we serve: one zone for the mesh plus the configured reverse zones,
// each a map from owner name to its RRsets. Built by compile.ts, read by answer.ts.

import type { ZoneRecord } from '../wire/record-codec.ts';
import type { AnswerMemo } from './answer-memo.ts';

const NO_RRSETS: RRsetList = Object.freeze([]);

/** The [type, rrset, type, rrset, …] list of one owner name, in insertion order. */
export type RRsetList = readonly (number | ZoneRecord[])[];

/**
 * The read side of one owner name's RRsets, as a Map<number, ZoneRecord[]> reads (get, has,
 * size, keys, values, iteration); a node without any is an empty non-terminal (RFC 8020). Two
 * kinds: ZoneNode holds its records; the incremental zone's derived nodes (incremental.ts) hold
 * only which types they have, and build their records from the agent when asked.
 */
export abstract class OwnerNode {
  /** The RRsets, built or held. */
  abstract rrsets(): RRsetList;

  /**
   * The owner name as the zone holds it, when the node knows it: the answer memo keys the answer by
   * this string instead of the query's (one string per name asked, ~40 B each, kept otherwise).
   */
  get ownerName(): string | undefined {
    return undefined;
  }

  get size(): number {
    return this.rrsets().length >> 1;
  }

  get(type: number): ZoneRecord[] | undefined {
    const entries = this.rrsets();
    for (let index = 0; index < entries.length; index += 2) if (entries[index] === type) return entries[index + 1] as ZoneRecord[];
    return undefined;
  }

  has(type: number): boolean {
    return this.get(type) !== undefined;
  }

  *keys(): IterableIterator<number> {
    const entries = this.rrsets();
    for (let index = 0; index < entries.length; index += 2) yield entries[index] as number;
  }

  *values(): IterableIterator<ZoneRecord[]> {
    const entries = this.rrsets();
    for (let index = 0; index < entries.length; index += 2) yield entries[index + 1] as ZoneRecord[];
  }

  *entries(): IterableIterator<[number, ZoneRecord[]]> {
    const entries = this.rrsets();
    for (let index = 0; index < entries.length; index += 2) yield [entries[index] as number, entries[index + 1] as ZoneRecord[]];
  }

  [Symbol.iterator](): IterableIterator<[number, ZoneRecord[]]> {
    return this.entries();
  }
}

/**
 * An owner name whose RRsets are held, as one small array [type, rrset, type, rrset, …] in
 * insertion order: the zone holds one node per owner name (50,000 at 10,000 agents) and most hold
 * one or two RRsets. Measured in the heap after gc at 10,000 agents: a Map per node cost ~300 B
 * of hash table each (14.8 MiB); this costs the object and a 2- or 4-slot array. The scan over
 * ≤ 4 types is what a lookup costs.
 */
export class ZoneNode extends OwnerNode {
  #entries: RRsetList = NO_RRSETS;

  rrsets(): RRsetList {
    return this.#entries;
  }

  /** Sets the RRset of one type (replacing it in place, or appended: insertion order as a Map). */
  set(type: number, rrset: ZoneRecord[]): this {
    const entries = this.#entries;
    let at = 0;
    while (at < entries.length && entries[at] !== type) at += 2;
    // A new array of the exact size (a spread or push leaves spare slots): nodes are many and small.
    const next = new Array<number | ZoneRecord[]>(Math.max(entries.length, at + 2));
    for (let index = 0; index < entries.length; index++) next[index] = entries[index]!;
    next[at] = type;
    next[at + 1] = rrset;
    this.#entries = next;
    return this;
  }

  clear(): void {
    this.#entries = NO_RRSETS;
  }

  /** Replaces every RRset (the array is kept: exact-size, not changed afterwards). */
  assign(rrsets: RRsetList): void {
    this.#entries = rrsets.length === 0 ? NO_RRSETS : rrsets;
  }
}

export interface AuthoritativeZone {
  apex: string;
  soa: ZoneRecord & { type: 6 };
  /** The SOA as it goes into negative answers: TTL = min(SOA TTL, MINIMUM) (RFC 2308 §3). */
  negativeSoa: ZoneRecord & { type: 6 };
  nodes: Map<string, OwnerNode>;
}

export interface ZoneStats {
  zones: number;
  names: number;
  records: number;
  agents: number;
}

/**
 * Why an agent's record (or a whole claim on a name) is not in the zone. Bounded: these values
 * are the `reason` label of meshdns_zone_skipped_instances; the agent and name go to the log only.
 */
export type SkipReason =
  | 'invalid_name_label' // not an ASCII LDH label before folding (README "Names that collide")
  | 'invalid_id_label'
  | 'invalid_capability_label'
  | 'name_collision' // the agent's name lost its label to a higher-ranked claim
  | 'id_collision' // the agent's id lost its label (its TXT, SRV and PTR go with it)
  | 'shadowed_by_static_cname' // a static CNAME owns the name (RFC 1034 §3.6.2)
  | 'shadowed_by_static' // other static records own the name
  | 'answer_size' // the owner's records reached OWNER_ANSWER_BUDGET
  | 'txt_truncated'; // TXT strings cut to 255 bytes or capabilities past TXT_RDATA_MAX

export const ZONE_SKIP_REASONS: readonly SkipReason[] = [
  'invalid_name_label', 'invalid_id_label', 'invalid_capability_label', 'name_collision', 'id_collision',
  'shadowed_by_static_cname', 'shadowed_by_static', 'answer_size', 'txt_truncated',
];

export interface SkippedInstance {
  id: string;
  reason: SkipReason;
  detail: string;
}

/** Everything the mesh-zone stage needs; replaced as a whole on every registry change. */
export interface ZoneSet {
  /** The mesh zone's apex ("mesh.local"); the other zones are reverse zones. */
  meshApex: string;
  /** Every RR type held anywhere in the zones (bounds the answer memo's keys, see answer.ts). */
  typesPresent: ReadonlySet<number>;
  /** Zones by apex; lookups walk the query name's suffixes against this map. */
  byApex: Map<string, AuthoritativeZone>;
  stats: ZoneStats;
  skipped: SkippedInstance[];
  /** Encoded positive answers, filled on first use; bounded (see answer.ts). */
  answerMemo: AnswerMemo;
  /** The SOA serial this zone set was compiled with. */
  serial: number;
  /**
   * At least the most labels below the mesh apex of any mesh name, service names aside (at least 1):
   * the autopath stage's bound for telling a search-expanded query name from a mesh name. compileZone's
   * is exact; the incremental zone raises it as deeper names arrive and does not lower it. Too high
   * only leaves some search-expanded names to the client's next try; too low would forward a name
   * missing under a view's namespace as if search-expanded (the autopath stage once cached it per
   * zone set object, which the incremental zone updates in place).
   */
  deepestName: number;
}

/** Labels below the apex of `owner` (a name in the zone of that apex), or 0 for a service name (`_…`) and the apex. */
export function meshNameDepth(owner: string, apexLength: number): number {
  if (owner.length <= apexLength || owner.charCodeAt(0) === 0x5f /* _ */) return 0;
  let labels = 1;
  for (let index = owner.length - apexLength - 2; index >= 0; index--) if (owner.charCodeAt(index) === 0x2e) labels++;
  return labels;
}

/** ZoneSet.deepestName computed from the mesh zone's names (one pass over them). */
export function deepestMeshName(zones: Pick<ZoneSet, 'byApex' | 'meshApex'>): number {
  const zone = zones.byApex.get(zones.meshApex);
  let deepest = 1;
  if (!zone) return deepest;
  for (const owner of zone.nodes.keys()) deepest = Math.max(deepest, meshNameDepth(owner, zones.meshApex.length));
  return deepest;
}
