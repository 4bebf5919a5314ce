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
  /** Encoded answers, filled on first use; bounded (see answer.ts). */
  answerMemo: Map<string, RecordSections>;
  /** The SOA serial this zone set was compiled with. */
  serial: number;
}
