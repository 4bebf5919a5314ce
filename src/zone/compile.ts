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
import type { AuthoritativeZone, SkippedInstance, ZoneNode, ZoneSet } from './zone.ts';

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

// RFC 1035 §2.3.4 bounds a label at 63 octets. Underscore is allowed (it is a valid DNS label
// octet and registry names renamed by heartbeat may carry one); a leading or trailing hyphen is not.
const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;
// A capability becomes "_<capability>", so it gets one octet less.
const CAPABILITY_LABEL = /^(?!-)[a-z0-9_-]{1,62}(?<!-)$/;
const SRV_PRIORITY = 1;
const SRV_WEIGHT = 1;
// RFC 1035 §3.3.14: a TXT character-string holds at most 255 octets.
const TXT_STRING_MAX = 255;

export function isValidLabel(label: string): boolean {
  return LABEL.test(label);
}

export function capabilityLabel(capability: string): string | null {
  const lower = capability.toLowerCase();
  return CAPABILITY_LABEL.test(lower) ? `_${lower}` : null;
}

export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // Cut at a character boundary so the string stays valid UTF-8.
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

/** TXT strings describing an instance, each a key=value within 255 octets. */
export function instanceTxt(instance: MeshInstance): string[] {
  const strings = [
    `id=${instance.id}`,
    `name=${instance.name}`,
    `version=${instance.version}`,
    `runtime=${instance.runtime}`,
    `type=${instance.agentType}`,
    `scheme=${instance.scheme}`,
    `port=${instance.port}`,
    ...instance.capabilities.map((capability) => `cap=${capability.name}${capability.version ? `@${capability.version}` : ''}`),
  ];
  return strings.map((text) => truncateUtf8(text, TXT_STRING_MAX));
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

  /** Adds a record, creating the owner and its empty non-terminal ancestors up to the apex. */
  /** (owner, record) pairs already added: duplicates (two agents on one address) are dropped in O(1). */
  private readonly seen = new Set<string>();

  add(owner: string, record: ZoneRecord): void {
    const key = `${owner}|${JSON.stringify(record)}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const node = this.nodeFor(owner);
    const rrset = node.get(record.type);
    if (!rrset) node.set(record.type, [record]);
    else rrset.push(record);
  }

  nodeFor(owner: string): ZoneNode {
    let node = this.zone.nodes.get(owner);
    if (node) return node;
    node = new Map();
    this.zone.nodes.set(owner, node);
    for (let ancestor = owner; ancestor !== this.zone.apex && ancestor !== ''; ) {
      ancestor = parentName(ancestor);
      if (!this.zone.nodes.has(ancestor)) this.zone.nodes.set(ancestor, new Map());
    }
    return node;
  }
}

function addressRecord(address: string, ttl: number): ZoneRecord {
  return address.includes(':') ? { type: RRType.AAAA, ttl, address } : { type: RRType.A, ttl, address };
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

  const addPtr = (address: string, target: string) => {
    const owner = reverseName(address);
    // The most specific zone holds the name: findZone (answer.ts) answers from the longest apex,
    // so with 10.0.0.0/8 and 10.1.0.0/16 both configured a PTR filed under 10.in-addr.arpa was
    // never found and 1.10.in-addr.arpa answered NXDOMAIN for it.
    let builder: ZoneBuilder | undefined;
    for (const candidate of reverse) {
      if (isInZone(owner, candidate.zone.apex) && (!builder || candidate.zone.apex.length > builder.zone.apex.length)) builder = candidate;
    }
    builder?.add(owner, { type: RRType.PTR, ttl, target });
  };

  let agents = 0;
  for (const instance of instances) {
    if (instance.addresses.length === 0) continue;
    agents++;
    const name = instance.name.toLowerCase();
    const id = instance.id.toLowerCase();
    const nameOk = isValidLabel(name);
    const idOk = isValidLabel(id);
    if (!nameOk) skipped.push({ id: instance.id, reason: 'invalid_name_label', detail: instance.name });
    if (!idOk) skipped.push({ id: instance.id, reason: 'invalid_id_label', detail: instance.id });
    const idOwner = `${id}.${zone}`;
    for (const address of instance.addresses) {
      if (nameOk) mesh.add(`${name}.${zone}`, addressRecord(address, ttl));
      if (idOk) {
        mesh.add(idOwner, addressRecord(address, ttl));
        addPtr(address, idOwner);
      } else if (nameOk) {
        addPtr(address, `${name}.${zone}`);
      }
    }
    // SRV targets must be names with addresses (RFC 2782), so they need a valid id label.
    if (!idOk) continue;
    mesh.add(idOwner, { type: RRType.TXT, ttl, strings: instanceTxt(instance) });
    const srv = { type: RRType.SRV, ttl, priority: SRV_PRIORITY, weight: SRV_WEIGHT, port: instance.port, target: idOwner } as const;
    if (nameOk) mesh.add(`_mcp._tcp.${name}.${zone}`, srv);
    for (const capability of instance.capabilities) {
      const label = capabilityLabel(capability.name);
      if (label) mesh.add(`${label}._tcp.${zone}`, srv);
      else skipped.push({ id: instance.id, reason: 'invalid_capability_label', detail: capability.name });
    }
  }

  for (const { name, record } of staticRecords) {
    // RFC 1034 §3.6.2: a CNAME stands alone. The operator's static CNAME wins over agent records
    // that landed on the same name, and they are reported.
    const existing = record.type === RRType.CNAME ? mesh.zone.nodes.get(name) : undefined;
    if (existing && existing.size > 0) {
      for (const [type, rrset] of existing) if (type !== RRType.CNAME) skipped.push({ id: name, reason: 'shadowed_by_static_cname', detail: `${rrset.length} record(s) of type ${type}` });
      existing.clear();
    }
    mesh.add(name, record);
    if (record.type === RRType.A || record.type === RRType.AAAA) addPtr(record.address, name);
  }

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
  return {
    meshApex: options.zone,
    typesPresent,
    byApex: new Map(zones.map((built) => [built.apex, built])),
    stats: { zones: zones.length, names, records, agents },
    skipped,
    answerMemo: new Map(),
    serial: options.serial,
  };
}
