// The authoritative data we serve: one zone for the mesh plus the configured reverse zones,
// each a map from owner name to its RRsets. Built by compile.ts, read by answer.ts.

import type { ZoneRecord } from '../wire/record-codec.ts';
import type { RecordSections } from '../wire/response.ts';

/** RRsets at one owner name by type; an empty map is an empty non-terminal (RFC 8020). */
export type ZoneNode = Map<number, ZoneRecord[]>;

export interface AuthoritativeZone {
  apex: string;
  soa: ZoneRecord & { type: 6 };
  /** The SOA as it goes into negative answers: TTL = min(SOA TTL, MINIMUM) (RFC 2308 §3). */
  negativeSoa: ZoneRecord & { type: 6 };
  nodes: Map<string, ZoneNode>;
}

export interface ZoneStats {
  zones: number;
  names: number;
  records: number;
  agents: number;
}

export interface SkippedInstance {
  id: string;
  reason: 'invalid_name_label' | 'invalid_id_label' | 'invalid_capability_label' | 'shadowed_by_static_cname';
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
  /** Encoded answers, filled on first use; bounded (see answer.ts). */
  answerMemo: Map<string, RecordSections>;
  /** The SOA serial this zone set was compiled with. */
  serial: number;
}
