// compileZone: registry state + static records → the name index we answer from. Pure: the
// same input gives the same ZoneSet, so it is tested without sockets or a registry.
//
// Names served (zone "mesh.local" in the examples):
//   <name>.mesh.local               A/AAAA of every healthy instance with that name
//   <agent_id>.mesh.local           A/AAAA of that instance, TXT with its metadata
//   _mcp._tcp.<name>.mesh.local     SRV per instance → <agent_id>.mesh.local:<port>
//   _<capability>._tcp.mesh.local   SRV per instance providing the capability
//   <reverse>.in-addr.arpa / ip6.arpa  PTR → <agent_id>.mesh.local (configured reverse zones)
//   mesh.local                      SOA, NS
// plus static records from config.

import { RRType } from '../wire/constants.ts';
import type { ZoneRecord } from '../wire/record-codec.ts';
import { isInZone, parentName } from '../wire/name.ts';
import { reverseName } from './reverse.ts';
import { StringInterner } from './string-interner.ts';
import { AnswerMemo } from './answer-memo.ts';
import { deepestMeshName, ZoneNode, type AuthoritativeZone, type SkippedInstance, type ZoneSet } from './zone.ts';

/** What the zone needs of an agent instance (a subset of the registry projection). */
export interface MeshInstance {
  id: string;
  name: string;
  scheme: string;
  port: number;
  /** IPv4/IPv6 literals: the endpoint's own, or its hostname resolved at sync time. */
  addresses: string[];
  version: string;
  runtime: string;
  agentType: string;
  capabilities: ReadonlyArray<{ name: string; version: string }>;
  /**
   * Views: the labels between the agent's own and the zone (`<agent>.<domain>.<zone>`), i.e. its
   * registry namespace; '' or absent for `<agent>.<zone>`.
   */
  domain?: string;
  /** False for a second spelling of the same instance (home-view alias): one PTR per address. */
  ptr?: boolean;
}

/** A record from config, with an absolute lowercase owner name. */
export interface StaticRecord {
  name: string;
  record: ZoneRecord;
}

export interface ZoneCompileOptions {
  zone: string;
  /** TTL of mesh answers (MCP_MESH_DNS_CACHE_TTL). */
  ttl: number;
  /** SOA MINIMUM and SOA TTL: how long negative answers may be cached (RFC 2308). */
  negativeTtl: number;
  reverseZones: string[];
  serial: number;
}

// Agent ids and names become labels only when the RAW string is an RFC 1035 §2.3.1 LDH label
// (letters, digits, hyphen; no leading or trailing hyphen; ≤ 63 octets, §2.3.4), checked BEFORE
// any case folding. Folding first let non-ASCII through: "\u212A".toLowerCase() is ASCII "k"
// (KELVIN SIGN), so a name spelled with it passed the check and claimed another agent's name.
// No `i` or `u` flag: with them [a-z] matches U+212A again. Only ASCII A–Z is folded afterwards.
const LDH_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
// A capability becomes "_<capability>": one octet less, and `_` allowed (weather_forecast).
const CAPABILITY_LABEL = /^(?!-)[A-Za-z0-9_-]{1,62}(?<!-)$/;
export const SRV_PRIORITY = 1;
export const SRV_WEIGHT = 1;
// RFC 1035 §3.3.14: a TXT character-string holds at most 255 octets.
const TXT_STRING_MAX = 255;
/**
 * Total TXT RDATA of one agent. RDLENGTH is 16 bits and dns2 wrote it modulo 65536 (a 76,800-byte
 * TXT went out as 11,264: a corrupt record); 4,000 bytes holds ~100 capabilities and keeps the TXT
 * answer inside one 4,096-byte EDNS buffer. Capabilities past it are left out of the TXT (they
 * keep their SRV names), a last `caps_omitted=<n>` string says so, and it is counted.
 */
export const TXT_RDATA_MAX = 4000;
/**
 * Registry-derived records at one owner name, by estimated wire size (compressed owner pointer +
 * type/class/TTL/RDLENGTH + RDATA). Half of the 65,535-byte TCP message limit: room for the
 * question, a CNAME from a static record, ADDITIONAL addresses and OPT. An owner over it would
 * answer with TC and no records at all (response.ts); records past it are skipped and counted
 * (reason "answer_size"), in projection order, i.e. the lexicographically last ids go first.
 */
export const OWNER_ANSWER_BUDGET = 32 * 1024;

/** The label for an agent id or name, or null when the raw string is not an ASCII LDH label. */
export function agentLabel(raw: string): string | null {
  if (!LDH_LABEL.test(raw)) return null;
  // toLowerCase returns a new string even when nothing changes; the zone keeps the label of every
  // agent, so an already-lowercase spelling (the registry's own rule) is kept as the one copy.
  const label = raw.toLowerCase();
  return label === raw ? raw : label;
}

/**
 * `label.suffix` as one flat string. A template literal or `+` of 13 characters or more makes a
 * V8 rope (ConsString); the first hash of it (as a Map key) adds a flat copy and keeps the rope
 * (32 B) pointing at it, for every owner name the zone keeps: ~40,000 ropes at 10,000 agents
 * (test/bench/zone-heap.ts). Array join builds the flat string directly.
 */
export function flatOwnerName(label: string, suffix: string): string {
  return [label, suffix].join('.');
}

export function isValidLabel(label: string): boolean {
  return LDH_LABEL.test(label);
}

export function capabilityLabel(capability: string): string | null {
  return CAPABILITY_LABEL.test(capability) ? `_${capability.toLowerCase()}` : null;
}

export function truncateUtf8(text: string, maxBytes: number): string {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short strings need no Buffer to know they fit.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // Cut at a character boundary so the string stays valid UTF-8.
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

// TXT strings every agent of a kind shares ("runtime=python", "port=8000", "cap=weather@1.0.0"):
// one copy each in the zone (bounded, see string-interner.ts).
const sharedTxt = new StringInterner(4096);

/**
 * TXT strings describing an instance: each a key=value within 255 octets, all together within
 * TXT_RDATA_MAX. `omitted` counts the capabilities that did not fit.
 */
export function instanceTxtBounded(instance: MeshInstance): { strings: string[]; omitted: number; cut: number } {
  const fixed = [
    `id=${instance.id}`,
    `name=${instance.name}`,
    sharedTxt.intern(`version=${instance.version}`),
    sharedTxt.intern(`runtime=${instance.runtime}`),
    sharedTxt.intern(`type=${instance.agentType}`),
    sharedTxt.intern(`scheme=${instance.scheme}`),
    sharedTxt.intern(`port=${instance.port}`),
  ];
  const caps = instance.capabilities.map((capability) => sharedTxt.intern(`cap=${capability.name}${capability.version ? `@${capability.version}` : ''}`));
  let cut = 0;
  const bounded = (text: string) => {
    const kept = truncateUtf8(text, TXT_STRING_MAX);
    if (kept !== text) cut++;
    return kept;
  };
  const strings = fixed.map(bounded);
  // Room for the closing "caps_omitted=<n>" string (1 length octet + at most 18 bytes).
  let size = strings.reduce((sum, text) => sum + 1 + Buffer.byteLength(text), 0);
  const reserve = 1 + 'caps_omitted=65535'.length;
  let index = 0;
  for (; index < caps.length; index++) {
    const text = bounded(caps[index]!);
    const cost = 1 + Buffer.byteLength(text);
    if (size + cost + (index < caps.length - 1 ? reserve : 0) > TXT_RDATA_MAX) break;
    strings.push(text);
    size += cost;
  }
  const omitted = caps.length - index;
  if (omitted > 0) strings.push(`caps_omitted=${omitted}`);
  // A copy of the exact length: the pushes above leave up to 16 spare slots in an array the zone keeps.
  return { strings: strings.slice(), omitted, cut };
}

/** TXT strings describing an instance (see instanceTxtBounded). */
export function instanceTxt(instance: MeshInstance): string[] {
  return instanceTxtBounded(instance).strings;
}

/** Wire length of an uncompressed absolute name ("a.b" → 1+1+1+1+1 = 5). */
export function nameWireLength(name: string): number {
  return name === '' ? 1 : Buffer.byteLength(name) + 2;
}

/** Estimated bytes of a record in an answer: 2-octet compressed owner + 10 fixed + RDATA. */
export function estimatedRecordSize(record: ZoneRecord): number {
  switch (record.type) {
    case RRType.A:
      return 2 + 10 + 4;
    case RRType.AAAA:
      return 2 + 10 + 16;
    case RRType.TXT:
      return 2 + 10 + record.strings.reduce((sum, text) => sum + 1 + Buffer.byteLength(text), 0);
    case RRType.SRV:
      return 2 + 10 + 6 + nameWireLength(record.target);
    case RRType.CNAME:
    case RRType.PTR:
    case RRType.NS:
      return 2 + 10 + nameWireLength(record.target);
    default:
      return 2 + 10 + 256;
  }
}

class ZoneBuilder {
  readonly zone: AuthoritativeZone;

  constructor(apex: string, options: ZoneCompileOptions) {
    const soa = {
      type: RRType.SOA,
      ttl: options.negativeTtl,
      mname: `ns.${options.zone}`,
      rname: `hostmaster.${options.zone}`,
      serial: options.serial,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: options.negativeTtl,
    } as const;
    this.zone = { apex, soa, negativeSoa: { ...soa, ttl: Math.min(soa.ttl, soa.minimum) }, nodes: new Map() };
    this.add(apex, soa);
  }

  /** (owner, record) pairs already added: duplicates (two agents on one address) are dropped in O(1). */
  private readonly seen = new Set<string>();
  /** Estimated answer bytes per owner (estimatedRecordSize), for OWNER_ANSWER_BUDGET. */
  private readonly ownerBytes = new Map<string, number>();

  /** Adds a record, creating the owner and its empty non-terminal ancestors up to the apex. */
  add(owner: string, record: ZoneRecord): void {
    this.tryAdd(owner, record, Number.POSITIVE_INFINITY);
  }

  /** Adds a record unless it is a duplicate or would take the owner's answer past `budget`. */
  tryAdd(owner: string, record: ZoneRecord, budget: number): 'added' | 'duplicate' | 'over_budget' {
    const key = `${owner}|${JSON.stringify(record)}`;
    if (this.seen.has(key)) return 'duplicate';
    const bytes = (this.ownerBytes.get(owner) ?? 0) + estimatedRecordSize(record);
    if (bytes > budget) return 'over_budget';
    this.seen.add(key);
    this.ownerBytes.set(owner, bytes);
    const node = this.nodeFor(owner);
    const rrset = node.get(record.type);
    if (!rrset) node.set(record.type, [record]);
    else rrset.push(record);
    return 'added';
  }

  nodeFor(owner: string): ZoneNode {
    // compileZone's zones hold ZoneNodes only (derived nodes are the incremental zone's).
    let node = this.zone.nodes.get(owner) as ZoneNode | undefined;
    if (node) return node;
    node = new ZoneNode();
    this.zone.nodes.set(owner, node);
    for (let ancestor = owner; ancestor !== this.zone.apex && ancestor !== ''; ) {
      ancestor = parentName(ancestor);
      if (!this.zone.nodes.has(ancestor)) this.zone.nodes.set(ancestor, new ZoneNode());
    }
    return node;
  }
}

function addressRecord(address: string, ttl: number): ZoneRecord {
  return address.includes(':') ? { type: RRType.AAAA, ttl, address } : { type: RRType.A, ttl, address };
}

/** One agent's claim on a label: its name or its id, as spelled in the registry. */
export interface LabelClaim {
  label: string;
  kind: 'name' | 'id';
  spelling: string;
  /** The spelling had ASCII capitals that were folded (the registry only accepts lowercase at registration). */
  folded: boolean;
  instance: MeshInstance;
}

/**
 * Which claim on one label wins (README "Names that collide"), lowest first:
 *   1. a spelling that is already lowercase over one that had to be folded: the registry validates
 *      ids and names as lowercase at registration, so capitals come from an unvalidated rename;
 *   2. an agent `name` over another agent's `id`: the name is the service every client asks for,
 *      an id is one instance (SDK ids are `<name>-<8 hex>`, so an id equal to a name is an override);
 *   3. the lexicographically first spelling (code-unit order, locale-independent).
 * Static records from config win over all of these (checked before).
 */
export function compareClaims(a: LabelClaim, b: LabelClaim): number {
  if (a.folded !== b.folded) return a.folded ? 1 : -1;
  if (a.kind !== b.kind) return a.kind === 'name' ? -1 : 1;
  return a.spelling < b.spelling ? -1 : a.spelling > b.spelling ? 1 : 0;
}

/**
 * The collision rule at one owner name (README "Names that collide"): the best claim by
 * compareClaims wins, and with it every replica spelling the winning name exactly; each other
 * claim is reported as lost. One function, so compileZone and the incremental zone
 * (incremental.ts) cannot disagree on who owns a name.
 */
export function decideClaims(owner: string, claims: readonly LabelClaim[], winners: Set<LabelClaim>, lost: SkippedInstance[]): void {
  const sorted = [...claims].sort(compareClaims);
  const first = sorted[0]!;
  for (const entry of sorted) {
    if (entry === first || (first.kind === 'name' && entry.kind === 'name' && entry.spelling === first.spelling)) {
      winners.add(entry);
    } else {
      lost.push({
        id: entry.instance.id,
        reason: entry.kind === 'name' ? 'name_collision' : 'id_collision',
        detail: `${entry.kind} "${entry.spelling}" lost ${owner} to the ${first.kind} "${first.spelling}" of ${first.instance.id}`,
      });
    }
  }
}

export function compileZone(instances: readonly MeshInstance[], staticRecords: readonly StaticRecord[], options: ZoneCompileOptions): ZoneSet {
  const mesh = new ZoneBuilder(options.zone, options);
  // One builder per distinct apex: with a zone listed twice (two CIDRs can give the same zone),
  // byApex keeps the last twin while PTRs went into the first, and every PTR went missing.
  const reverse = [...new Set(options.reverseZones)].map((apex) => new ZoneBuilder(apex, options));
  const skipped: SkippedInstance[] = [];
  const { zone, ttl } = options;

  mesh.add(zone, { type: RRType.NS, ttl, target: `ns.${zone}` });
  mesh.nodeFor(`ns.${zone}`);

  const reverseBuilderFor = (owner: string): ZoneBuilder | undefined => {
    // The most specific zone holds the name: findZone (answer.ts) answers from the longest apex,
    // so with 10.0.0.0/8 and 10.1.0.0/16 both configured a PTR filed under 10.in-addr.arpa was
    // never found and 1.10.in-addr.arpa answered NXDOMAIN for it.
    let builder: ZoneBuilder | undefined;
    for (const candidate of reverse) {
      if (isInZone(owner, candidate.zone.apex) && (!builder || candidate.zone.apex.length > builder.zone.apex.length)) builder = candidate;
    }
    return builder;
  };

  // Static records first: they win over every agent record at their owner names.
  const staticOwners = new Map<string, number>(); // owner → the static record type there (CNAME wins the reason)
  for (const { name, record } of staticRecords) {
    mesh.add(name, record);
    if (staticOwners.get(name) !== RRType.CNAME) staticOwners.set(name, record.type);
    if (record.type === RRType.A || record.type === RRType.AAAA) {
      const owner = reverseName(record.address);
      const builder = reverseBuilderFor(owner);
      if (builder) {
        builder.add(owner, { type: RRType.PTR, ttl, target: name });
        staticOwners.set(owner, RRType.PTR);
      }
    }
  }
  const staticReason = (owner: string) => (staticOwners.get(owner) === RRType.CNAME ? 'shadowed_by_static_cname' : 'shadowed_by_static') as SkippedInstance['reason'];

  // Agent records go through one door: static owners and the owner budget are checked here, and
  // each (instance, owner, reason) is reported once however many records it loses.
  const reported = new Set<string>();
  const report = (instance: MeshInstance, owner: string, reason: SkippedInstance['reason'], detail: string) => {
    const key = `${instance.id}\u0000${owner}\u0000${reason}`;
    if (reported.has(key)) return;
    reported.add(key);
    skipped.push({ id: reason.startsWith('shadowed') ? owner : instance.id, reason, detail });
  };
  const addAgentRecord = (builder: ZoneBuilder, instance: MeshInstance, owner: string, record: ZoneRecord) => {
    if (staticOwners.has(owner)) {
      report(instance, owner, staticReason(owner), `agent ${instance.id}: record of type ${record.type}`);
      return;
    }
    if (builder.tryAdd(owner, record, OWNER_ANSWER_BUDGET) === 'over_budget') {
      report(instance, owner, 'answer_size', `${owner} holds ${OWNER_ANSWER_BUDGET} bytes of records`);
    }
  };
  const addPtr = (instance: MeshInstance, address: string, target: string) => {
    const owner = reverseName(address);
    const builder = reverseBuilderFor(owner);
    if (builder) addAgentRecord(builder, instance, owner, { type: RRType.PTR, ttl, target });
  };

  // Claims on labels, then one winner (or one group of same-spelled names) per label.
  const published = instances.filter((instance) => instance.addresses.length > 0);
  // Keyed by owner name: with views the same label can be claimed under several namespaces.
  const claimsByLabel = new Map<string, LabelClaim[]>();
  const suffixOf = (instance: MeshInstance) => (instance.domain ? `${instance.domain}.${zone}` : zone);
  const claimsOf = new Map<MeshInstance, { name: LabelClaim | null; id: LabelClaim | null }>();
  const claim = (instance: MeshInstance, kind: 'name' | 'id', spelling: string): LabelClaim | null => {
    const label = agentLabel(spelling);
    if (label === null) {
      skipped.push({ id: instance.id, reason: kind === 'name' ? 'invalid_name_label' : 'invalid_id_label', detail: spelling });
      return null;
    }
    const entry: LabelClaim = { label, kind, spelling, folded: label !== spelling, instance };
    const owner = flatOwnerName(label, suffixOf(instance));
    const list = claimsByLabel.get(owner);
    if (list) list.push(entry);
    else claimsByLabel.set(owner, [entry]);
    return entry;
  };
  for (const instance of published) claimsOf.set(instance, { name: claim(instance, 'name', instance.name), id: claim(instance, 'id', instance.id) });
  const winners = new Set<LabelClaim>();
  for (const [owner, list] of claimsByLabel) {
    if (staticOwners.has(owner)) {
      for (const entry of list) report(entry.instance, owner, staticReason(owner), `agent ${entry.instance.id} (${entry.kind} "${entry.spelling}")`);
      continue;
    }
    decideClaims(owner, list, winners, skipped);
  }

  for (const instance of published) {
    const claims = claimsOf.get(instance)!;
    const suffix = suffixOf(instance);
    const nameOwner = claims.name && winners.has(claims.name) ? flatOwnerName(claims.name.label, suffix) : null;
    const idOwner = claims.id && winners.has(claims.id) ? flatOwnerName(claims.id.label, suffix) : null;
    const withPtr = instance.ptr !== false;
    for (const address of instance.addresses) {
      if (nameOwner) addAgentRecord(mesh, instance, nameOwner, addressRecord(address, ttl));
      if (idOwner) {
        addAgentRecord(mesh, instance, idOwner, addressRecord(address, ttl));
        if (withPtr) addPtr(instance, address, idOwner);
      } else if (nameOwner && withPtr) {
        addPtr(instance, address, nameOwner);
      }
    }
    // SRV targets must be names with addresses (RFC 2782) that are this instance's own, so they
    // need the id label (a lost id label now answers for another agent).
    if (!idOwner) continue;
    const txt = instanceTxtBounded(instance);
    if (txt.omitted > 0 || txt.cut > 0) {
      skipped.push({ id: instance.id, reason: 'txt_truncated', detail: `${txt.omitted} capabilities left out, ${txt.cut} strings cut to 255 bytes` });
    }
    addAgentRecord(mesh, instance, idOwner, { type: RRType.TXT, ttl, strings: txt.strings });
    const srv = { type: RRType.SRV, ttl, priority: SRV_PRIORITY, weight: SRV_WEIGHT, port: instance.port, target: idOwner } as const;
    if (nameOwner) addAgentRecord(mesh, instance, flatOwnerName('_mcp._tcp', nameOwner), srv);
    for (const capability of instance.capabilities) {
      const label = capabilityLabel(capability.name);
      if (label) addAgentRecord(mesh, instance, flatOwnerName(`${label}._tcp`, suffix), srv);
      else skipped.push({ id: instance.id, reason: 'invalid_capability_label', detail: capability.name });
    }
  }
  // An instance listed twice (a view's namespaced name and its home alias) is one agent.
  const agents = new Set(published.map((instance) => instance.id)).size;

  const zones = [mesh.zone, ...reverse.map((builder) => builder.zone)];
  let names = 0;
  let records = 0;
  const typesPresent = new Set<number>();
  for (const built of zones) {
    names += built.nodes.size;
    for (const node of built.nodes.values()) {
      for (const [type, rrset] of node) {
        records += rrset.length;
        typesPresent.add(type);
      }
    }
  }
  const byApex = new Map(zones.map((built) => [built.apex, built]));
  return {
    meshApex: options.zone,
    typesPresent,
    byApex,
    stats: { zones: zones.length, names, records, agents },
    skipped,
    answerMemo: new AnswerMemo(),
    serial: options.serial,
    deepestName: deepestMeshName({ byApex, meshApex: options.zone }),
  };
}
