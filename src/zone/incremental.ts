// IncrementalZone: one zone set kept equal to compileZone(instances, static, options) while the
// instance list changes, re-encoding only what a change touches (issue 9 item 5).
//
// Measured before: compileZone takes 254 ms at 10,000 agents and ran on the event loop on every
// registry change, so one agent moving per poll at 20,000 agents raised the p99 of an unrelated
// static name from 1.0 ms to 16 ms (max 793 ms). Here a change costs what the changed agents own:
//
//   1. diff the new list against the last one by (domain, id): added, removed, changed instances;
//   2. their label claims leave or join the claim lists of their owners; each touched label's
//      winner is decided again with compileZone's rules (decideClaims), and an unchanged agent
//      whose name or id label was won or lost by that decision counts as changed too;
//   3. each changed agent's records are derived again (the same steps as compileZone's loop);
//   4. each owner name those records left or reached is rebuilt from its contributors in list
//      order — duplicates, static shadowing and OWNER_ANSWER_BUDGET exactly as compileZone —
//      and only its memoised answers are forgotten (plus the apex and negative answers, whose SOA
//      carries the new serial, and static names whose CNAME/SRV/NS chains may reach any agent).
//
// The zone set object is updated in place inside one synchronous apply(): the event loop cannot
// run a query in between, so a query sees the old generation or the new one, never a mix.
// test/unit/zone/incremental.test.ts compares the result with compileZone over random sequences.

import { RRType } from '../wire/constants.ts';
import type { ZoneRecord } from '../wire/record-codec.ts';
import { isInZone, parentName } from '../wire/name.ts';
import { forgetAnswers } from './answer.ts';
import {
  agentLabel,
  capabilityLabel,
  flatOwnerName,
  decideClaims,
  compileZone,
  estimatedRecordSize,
  instanceTxtBounded,
  nameWireLength,
  OWNER_ANSWER_BUDGET,
  SRV_PRIORITY,
  SRV_WEIGHT,
  type LabelClaim,
  type MeshInstance,
  type StaticRecord,
  type ZoneCompileOptions,
} from './compile.ts';
import { reverseName } from './reverse.ts';
import { addressKeyOf, ReverseNodes } from './reverse-nodes.ts';
import { ServiceNodes } from './service-nodes.ts';
import { NodesWithUnheldNames } from './unheld-names.ts';
import { meshNameDepth, OwnerNode, ZoneNode, type AuthoritativeZone, type RRsetList, type SkippedInstance, type ZoneSet } from './zone.ts';

/** Work done by the last apply(), for tests and the holder's log line. */
export interface ApplyCounts {
  /** Instances whose records were derived again (changed, added, or whose label winner moved). */
  reencodedInstances: number;
  /** Owner names whose RRsets were rebuilt. */
  rebuiltOwners: number;
  /** True when the whole zone was rebuilt (first apply, re-ordered list, duplicate keys). */
  full: boolean;
}

// Memory (issue 9 item 4): an instance keeps no records of its own. Its records at one owner are
// derived again when that owner is rebuilt (#forEachRecord, compileZone's per-instance loop
// filtered to the owner), so the only copy of a record is the one the zone's node holds.
// Measured on a real 10,000-agent GET /agents body (2 capabilities, default reverse zones), heap
// after gc: 9,070 B per agent with per-owner record lists, JSON keys and sizes kept per instance,
// against 2,744 B for compileZone's nodes alone.
// Its key in #states is instanceKey(instance), not kept: 8 B per agent, as a field each is.
interface InstanceState {
  instance: MeshInstance;
  /** Position in the list last applied, and the apply (epoch) that last saw the instance. */
  position: number;
  epoch: number;
  /** The owner names its name and its id claim (null: not a valid label); decided in #decideLabel. */
  nameClaimed: string | null;
  idClaimed: string | null;
  nameOwner: string | null;
  idOwner: string | null;
  /** invalid_*_label, txt_truncated, invalid_capability_label: what depends on this instance alone. */
  skipped: readonly SkippedInstance[];
}

const NONE: readonly never[] = Object.freeze([]);

interface FreshInstance {
  key: string;
  instance: MeshInstance;
  position: number;
}

interface OwnerBase {
  zone: AuthoritativeZone;
  /** Records at the owner before any agent's (SOA, NS, static), in compileZone's order. */
  records: ZoneRecord[];
}

// The id alone for the usual instance (no view domain, with PTR): no string to build and hash.
const isIdKeyed = (instance: MeshInstance): boolean => !instance.domain && instance.ptr !== false;
const instanceKey = (instance: MeshInstance): string => (isIdKeyed(instance) ? instance.id : `${instance.domain ?? ''}\u0000${instance.id}\u0000${instance.ptr === false ? 0 : 1}`);

export class IncrementalZone {
  readonly zones: ZoneSet;
  lastApply: ApplyCounts = { reencodedInstances: 0, rebuiltOwners: 0, full: true };
  readonly #options: ZoneCompileOptions;
  readonly #staticRecords: readonly StaticRecord[];
  readonly #mesh: AuthoritativeZone;
  readonly #reverse: AuthoritativeZone[];
  /** A reverse zone configured inside the mesh zone (zone "arpa"): rebuilds then derive PTRs for mesh owners too. */
  readonly #reverseInsideMesh: boolean;
  /** Owner → the static record type there (a CNAME decides the skip reason), as compileZone. */
  readonly #staticOwners = new Map<string, number>();
  readonly #base = new Map<string, OwnerBase>();
  readonly #typeCounts = new Map<number, number>();
  /** Owners whose answers may embed any agent's records (static CNAME/SRV/NS), forgotten on every apply. */
  readonly #staticWithTargets: string[] = [];
  #states = new Map<string, InstanceState>();
  /**
   * Owner → the instances claiming it (by name, id or both) that do not hold it: claims new in this
   * apply until #decideLabel, and the claims that lost. Those that won are on the owner's node, as
   * its contributors (#claimantsOf). A map of every claim cost ~44 B per entry, two per agent (0.9
   * MiB at 10,000 agents in zone-heap.ts), for what the nodes hold anyway.
   */
  readonly #otherClaims = new Map<string, Contributors>();
  readonly #labelSkips = new Map<string, SkippedInstance[]>();
  /**
   * The contributors (instances with records at an owner, in list order) of owners an apply() is
   * changing, until #rebuildOwner puts them on the owner's node. The others are on their nodes
   * (HeldNode.contributors): a Map of every owner cost ~44 B per entry, 50,000 entries at 10,000
   * agents (1.75 MiB), for owners the zone's node maps hold anyway.
   */
  readonly #pendingContributors = new Map<string, Contributors | null>();
  readonly #ownerSkips = new Map<string, SkippedInstance[]>();
  /**
   * Distinct agent ids among the instances (stats.agents) without a Map entry per agent (~44 B at
   * 10,000 agents): an instance keyed by its id alone (no view domain, with PTR: instanceKey) is
   * the only one so keyed, so those are counted; ids of the other instances are kept with how many
   * hold each, and #sharedIds counts those of them that also have an id-keyed instance.
   */
  #idKeyedInstances = 0;
  readonly #otherInstanceIds = new Map<string, number>();
  #sharedIds = 0;
  #records = 0;
  #epoch = 0;
  #skipsChanged = false;
  /**
   * Agent names whose `_mcp._tcp.<name>` has records from config (or config records under it): that
   * service name is held and rebuilt as an owner of its own, as before service-nodes.ts.
   */
  readonly #heldServiceBases = new Set<string>();
  /** Service names (`_mcp._tcp.<name>`) whose answers this apply must forget: their name was rebuilt. */
  readonly #rebuiltServices: string[] = [];

  constructor(staticRecords: readonly StaticRecord[], options: ZoneCompileOptions) {
    this.#options = options;
    this.#staticRecords = staticRecords;
    // The zones without agents are compileZone's own output: SOA, NS, static records, their PTRs.
    this.zones = compileZone([], staticRecords, options);
    this.#mesh = this.zones.byApex.get(options.zone)!;
    this.#reverse = [...this.zones.byApex.values()].filter((zone) => zone !== this.#mesh);
    this.#reverseInsideMesh = this.#reverse.some((zone) => isInZone(zone.apex, this.#mesh.apex));
    for (const { name, record } of staticRecords) {
      if (this.#staticOwners.get(name) !== RRType.CNAME) this.#staticOwners.set(name, record.type);
      if (record.type === RRType.A || record.type === RRType.AAAA) {
        const owner = reverseName(record.address);
        if (this.#reverseZoneFor(owner)) this.#staticOwners.set(owner, RRType.PTR);
      }
    }
    for (const zone of this.zones.byApex.values()) {
      for (const [owner, node] of [...zone.nodes]) zone.nodes.set(owner, PinnedNode.of(node));
      for (const [owner, node] of zone.nodes) {
        const records = [...node.values()].flat();
        if (records.length > 0) this.#base.set(owner, { zone, records });
        if (records.length > 0 || owner === `ns.${options.zone}`) this.#pin(zone, owner, 1);
        for (const record of records) {
          this.#countType(record.type, 1);
          if ((record.type === RRType.CNAME || record.type === RRType.SRV || record.type === RRType.NS) && !this.#staticWithTargets.includes(owner)) this.#staticWithTargets.push(owner);
        }
        this.#records += records.length;
      }
    }
    const meshNodes = new ServiceNodes(this.#mesh.nodes, this.#serviceRRsets);
    for (const owner of meshNodes.keys()) if (owner.startsWith('_mcp._tcp.')) this.#heldServiceBases.add(owner.slice('_mcp._tcp.'.length));
    this.#mesh.nodes = meshNodes;
    // A reverse zone inside the mesh zone may hold one name in two zones (#nodeWithContributors):
    // its PTR names stay held, the rare case kept on the general path.
    if (!this.#reverseInsideMesh) for (const zone of this.#reverse) zone.nodes = new ReverseNodes(zone.nodes, this.#indexedPtrRRsets);
  }

  /** Makes the zone set equal to compileZone(instances, static, options with `serial`). */
  apply(instances: readonly MeshInstance[], serial: number): ApplyCounts {
    // One pass over the list, one key and one lookup per instance (20,000 agents: a few ms); an
    // unchanged instance only gets its new position.
    const epoch = ++this.#epoch;
    const fresh: FreshInstance[] = [];
    const freshKeys = new Set<string>();
    let position = 0;
    let lastOldPosition = -1;
    for (const instance of instances) {
      if (instance.addresses.length === 0) continue;
      const key = instanceKey(instance);
      const state = this.#states.get(key);
      if (state !== undefined) {
        if (state.epoch === epoch) return this.#fallback(instances, serial);
        // compileZone's tie-breaks follow list order; a re-ordered list is rebuilt whole.
        if (state.position < lastOldPosition) {
          this.#reset();
          return this.apply(instances, serial);
        }
        lastOldPosition = state.position;
        // Set now: a list that turns out re-ordered or duplicated further on is rebuilt from scratch.
        state.position = position;
        state.epoch = epoch;
        if (!sameInstance(state.instance, instance)) fresh.push({ key, instance, position });
      } else {
        if (freshKeys.has(key)) return this.#fallback(instances, serial);
        freshKeys.add(key);
        fresh.push({ key, instance, position });
      }
      position++;
    }
    return this.#commit(fresh, epoch, serial, true);
  }

  /**
   * apply() when the caller knows the list kept its members and order (the same ids, each still
   * published or not, in the same namespace) and which instances differ: only those are looked
   * at, no pass over the whole list (at 20,000 agents that pass was the longest step of a change).
   * False, and nothing changed, when an instance is not the one held (the caller then applies).
   */
  applyChanged(changedInstances: readonly MeshInstance[], serial: number): boolean {
    const epoch = this.#epoch; // unchanged instances keep their epoch: nothing is withdrawn as unseen
    const fresh: FreshInstance[] = [];
    for (const instance of changedInstances) {
      if (instance.addresses.length === 0) continue;
      const state = this.#states.get(instanceKey(instance));
      if (state === undefined) return false;
      if (!sameInstance(state.instance, instance)) fresh.push({ key: instanceKey(instance), instance, position: state.position });
    }
    this.#commit(fresh, epoch, serial, false);
    return true;
  }

  /** `sweep`: withdraw the instances the list did not have (apply); applyChanged keeps every one. */
  #commit(fresh: readonly FreshInstance[], epoch: number, serial: number, sweep: boolean): ApplyCounts {
    const full = this.#states.size === 0;
    // Each instance derived again, with the owners it had records at before (none when fresh).
    const changed = new Map<InstanceState, readonly string[]>();
    const touchedLabels = new Set<string>();
    const touchedOwners = new Set<string>();
    for (const { key } of fresh) {
      const old = this.#states.get(key);
      if (old === undefined) continue;
      this.#withdraw(old, touchedLabels, touchedOwners);
      this.#states.delete(key);
    }
    // Only a whole list can leave instances out; with 100,000 held this pass cost ~4 ms per change.
    if (sweep) for (const [key, state] of this.#states) {
      if (state.epoch === epoch) continue;
      this.#withdraw(state, touchedLabels, touchedOwners);
      this.#states.delete(key);
    }
    for (const { key, instance, position: at } of fresh) {
      const state: InstanceState = { instance, position: at, epoch, nameClaimed: null, idClaimed: null, nameOwner: null, idOwner: null, skipped: NONE };
      this.#states.set(key, state);
      this.#claim(state, touchedLabels);
      this.#countAgent(state, 1);
      changed.set(state, NONE);
    }
    for (const owner of touchedLabels) this.#decideLabel(owner, changed);
    for (const [state, ownersBefore] of changed) {
      for (const owner of ownersBefore) this.#leave(state, owner, touchedOwners);
      for (const owner of this.#derive(state)) {
        touchedOwners.add(owner);
        const held = this.#contributorsOf(owner);
        if (held === null) {
          this.#pendingContributors.set(owner, state);
          continue;
        }
        const list = Array.isArray(held) ? held : [held];
        list.splice(insertionIndex(list, state.position), 0, state);
        this.#pendingContributors.set(owner, list);
      }
    }

    this.#setSerial(serial);
    for (const owner of touchedOwners) this.#rebuildOwner(owner);
    this.#pendingContributors.clear();
    forgetAnswers(this.zones, new Set([...touchedOwners, ...this.#rebuiltServices, ...this.zones.byApex.keys(), ...this.#staticWithTargets]));
    this.#rebuiltServices.length = 0;

    let names = 0;
    for (const zone of this.zones.byApex.values()) names += zone.nodes.size;
    this.zones.stats = { zones: this.zones.byApex.size, names, records: this.#records, agents: this.#idKeyedInstances + this.#otherInstanceIds.size - this.#sharedIds };
    // The same array when nothing was skipped differently: the holder then skips its skip census.
    if (this.#skipsChanged || full) this.zones.skipped = this.#collectSkipped();
    this.#skipsChanged = false;
    this.lastApply = { reencodedInstances: changed.size, rebuiltOwners: touchedOwners.size, full };
    return this.lastApply;
  }

  // --- instances ----------------------------------------------------------------------------

  #claim(state: InstanceState, touchedLabels: Set<string>): void {
    const { instance } = state;
    const suffix = instance.domain ? `${instance.domain}.${this.#options.zone}` : this.#options.zone;
    for (const kind of ['name', 'id'] as const) {
      const spelling = kind === 'name' ? instance.name : instance.id;
      const label = agentLabel(spelling);
      if (label === null) {
        this.#skipsChanged = true;
        state.skipped = [...state.skipped, { id: instance.id, reason: kind === 'name' ? 'invalid_name_label' : 'invalid_id_label', detail: spelling }];
        continue;
      }
      let owner = flatOwnerName(label, suffix);
      // The owner string the zone already holds is reused: one copy per name, however many claims.
      owner = heldNode(this.#mesh, owner)?.ownerName ?? firstClaimed(this.#otherClaims.get(owner), owner) ?? owner;
      addTo(this.#otherClaims, owner, state);
      if (kind === 'name') state.nameClaimed = owner;
      else state.idClaimed = owner;
      touchedLabels.add(owner);
    }
  }

  /** Takes a removed or changed instance out: its claims, its records, its id count. */
  #withdraw(state: InstanceState, touchedLabels: Set<string>, touchedOwners: Set<string>): void {
    if (state.skipped.length > 0) this.#skipsChanged = true;
    for (const owner of [state.nameClaimed, state.idClaimed === state.nameClaimed ? null : state.idClaimed]) {
      if (owner === null) continue;
      removeFrom(this.#otherClaims, owner, state);
      touchedLabels.add(owner);
    }
    for (const owner of this.#ownersOf(state)) this.#leave(state, owner, touchedOwners);
    this.#countAgent(state, -1);
  }

  /** Counts an instance held in #states in or out of the distinct ids (see #idKeyedInstances). */
  #countAgent(state: InstanceState, delta: 1 | -1): void {
    const id = state.instance.id;
    if (isIdKeyed(state.instance)) {
      this.#idKeyedInstances += delta;
      if (this.#otherInstanceIds.has(id)) this.#sharedIds += delta;
      return;
    }
    const count = (this.#otherInstanceIds.get(id) ?? 0) + delta;
    if (count > 0) this.#otherInstanceIds.set(id, count);
    else this.#otherInstanceIds.delete(id);
    // The id joined or left the other ids: shared if an id-keyed instance holds it.
    if ((delta === 1 ? count === 1 : count === 0) && this.#states.has(id)) this.#sharedIds += delta;
  }

  #leave(state: InstanceState, owner: string, touchedOwners: Set<string>): void {
    touchedOwners.add(owner);
    this.#pendingContributors.set(owner, without(this.#contributorsOf(owner), state));
  }

  /** The instances with records at `owner`: pending in this apply, else on its node. */
  #contributorsOf(owner: string): Contributors | null {
    const pending = this.#pendingContributors.get(owner);
    if (pending !== undefined) return pending;
    return this.#nodeWithContributors(owner)?.contributors ?? this.#indexedAt(owner) ?? null;
  }

  /** The one contributor of a PTR name its reverse zone indexes by address (reverse-nodes.ts). */
  #indexedAt(owner: string): InstanceState | undefined {
    const nodes = this.#zoneOf(owner)?.nodes;
    return nodes instanceof ReverseNodes ? (nodes as ReverseNodes<InstanceState>).indexed(owner) : undefined;
  }

  /**
   * An indexed PTR name becomes the held node it stands for (a derived node with one PTR, counted
   * in its ancestors' `below` as it was while indexed), for #rebuildOwner to rebuild as any other.
   */
  #fromIndex(owner: string): void {
    const state = this.#indexedAt(owner);
    if (state === undefined) return;
    const nodes = this.#zoneOf(owner)!.nodes as ReverseNodes<InstanceState>;
    nodes.unindex(owner);
    const node = new this.#DerivedNode(owner, 1);
    node.counts = ONE_PTR;
    node.contributors = state;
    nodes.set(owner, node);
  }

  /**
   * A rebuilt PTR name that one agent alone has one record at, with no name below it, goes to the
   * index: the node, its Map entry and its owner string are not kept (see reverse-nodes.ts).
   * Its ancestors keep counting it in `below`, and #fromIndex gives it back before any change.
   */
  #toIndex(zone: AuthoritativeZone, owner: string): void {
    if (!(zone.nodes instanceof ReverseNodes)) return;
    const node = zone.nodes.held(owner);
    if (!(node instanceof DerivedNode) || node.below !== 1 || node.counts !== ONE_PTR) return;
    const state = node.contributors;
    if (state === null || Array.isArray(state) || addressKeyOf(owner) === null) return;
    zone.nodes.delete(owner);
    (zone.nodes as ReverseNodes<InstanceState>).index(owner, state);
  }

  /**
   * The node holding `owner`'s contributors: in the zone its records are in (#rebuildOwner). The
   * mesh zone and a reverse zone may both hold a node at one name (a reverse zone configured inside
   * the mesh zone), so it is the node that has contributors.
   */
  #nodeWithContributors(owner: string): HeldNode | undefined {
    const zone = this.#zoneOf(owner);
    const likely = zone === undefined ? undefined : heldNode(zone, owner);
    if (likely?.contributors != null || !this.#reverseInsideMesh) return likely;
    for (const zone of this.zones.byApex.values()) {
      const node = heldNode(zone, owner);
      if (node?.contributors != null) return node;
    }
    return undefined;
  }

  /** compileZone's winner rule for one owner name; marks instances whose labels moved. */
  #decideLabel(owner: string, changed: Map<InstanceState, readonly string[]>): void {
    const before = this.#labelSkips.get(owner);
    this.#labelSkips.delete(owner);
    const states = this.#claimantsOf(owner);
    if (states.length === 0) {
      if (before) this.#skipsChanged = true;
      return;
    }
    // compileZone lists claims in instance order, name before id. The claim objects exist only
    // for this decision (kept, two per agent cost ~200 B at 10,000 agents).
    if (states.length > 1) states.sort((a, b) => a.position - b.position);
    const list: (LabelClaim & { state: InstanceState })[] = [];
    for (const state of states) {
      for (const kind of ['name', 'id'] as const) {
        if ((kind === 'name' ? state.nameClaimed : state.idClaimed) !== owner) continue;
        const spelling = kind === 'name' ? state.instance.name : state.instance.id;
        const label = agentLabel(spelling)!;
        list.push({ label, kind, spelling, folded: label !== spelling, instance: state.instance, state });
      }
    }
    const skips: SkippedInstance[] = [];
    const winners = new Set<LabelClaim>();
    if (this.#staticOwners.has(owner)) {
      const reason = this.#staticReason(owner);
      const reported = new Set<string>();
      for (const entry of list) {
        if (reported.has(entry.instance.id)) continue;
        reported.add(entry.instance.id);
        skips.push({ id: owner, reason, detail: `agent ${entry.instance.id} (${entry.kind} "${entry.spelling}")` });
      }
    } else {
      decideClaims(owner, list, winners, skips);
    }
    if (!sameSkips(before, skips)) this.#skipsChanged = true;
    if (skips.length > 0) this.#labelSkips.set(owner, skips);
    for (const entry of list) {
      const state = entry.state;
      const won = winners.has(entry) ? owner : null;
      if (entry.kind === 'name' ? state.nameOwner === won : state.idOwner === won) continue;
      // The owners it has records at follow from its labels: taken before they change.
      if (!changed.has(state)) changed.set(state, this.#ownersOf(state));
      if (entry.kind === 'name') state.nameOwner = won;
      else state.idOwner = won;
    }
    // A winner's claim is on the node once derived (its records are there); the others are kept.
    for (const state of states) {
      if (state.nameOwner === owner || state.idOwner === owner) removeFrom(this.#otherClaims, owner, state);
      else addTo(this.#otherClaims, owner, state);
    }
  }

  /**
   * The instances claiming `owner`, each once: those that do not hold it (#otherClaims) and the
   * owner's contributors that won it (the others there have records at it for another reason: a
   * PTR when a reverse zone is configured inside the mesh zone).
   */
  #claimantsOf(owner: string): InstanceState[] {
    const others = this.#otherClaims.get(owner);
    const states: InstanceState[] = others === undefined ? [] : Array.isArray(others) ? [...others] : [others];
    const held = this.#contributorsOf(owner);
    if (held !== null) {
      for (const state of Array.isArray(held) ? held : [held]) if (state.nameOwner === owner || state.idOwner === owner) states.push(state);
    }
    return states;
  }

  /** An instance's own skips (compileZone's per-instance loop), and the owners it has records at. */
  #derive(state: InstanceState): readonly string[] {
    const skippedBefore = state.skipped;
    const skipped = state.skipped.filter((skip) => skip.reason === 'invalid_name_label' || skip.reason === 'invalid_id_label');
    const owners = this.#ownersOf(state, skipped);
    state.skipped = skipped.length === 0 ? NONE : skipped;
    if (!sameSkips(skippedBefore, state.skipped)) this.#skipsChanged = true;
    return owners;
  }

  /**
   * The owner names an instance has records at, in the order compileZone adds them: a function of
   * the instance, the labels it won and the config, so it is computed again when needed (on a
   * withdrawal, or before #decideLabel moves a label) instead of kept per instance (an array and
   * its JSArray, ~120 B per agent, 1.2 MiB at 10,000 agents in zone-heap.ts). Skips that depend on
   * the instance alone go to `skipped` when given (#derive).
   */
  #ownersOf(state: InstanceState, skipped: SkippedInstance[] | null = null): readonly string[] {
    const owners: string[] = [];
    this.#forEachRecord(state, null, (_zone, owner) => {
      if (owners.length === 0 || (owners.at(-1) !== owner && !owners.includes(owner))) owners.push(owner);
    }, skipped);
    return owners;
  }

  /**
   * compileZone's per-instance loop, unchanged in order: calls `add` for each record, or with
   * `only` for the records at that one owner (a rebuild), building no other record. Skips that
   * depend on the instance alone go to `skipped` when given.
   */
  #forEachRecord(state: InstanceState, only: string | null, add: (zone: AuthoritativeZone, owner: string, record: ZoneRecord) => void, skipped: SkippedInstance[] | null): void {
    const { instance, nameOwner, idOwner } = state;
    const { ttl, zone } = this.#options;
    // An owner starting with "_" is a held `_mcp._tcp.<name>` or a capability's `_<cap>._tcp.<suffix>`
    // (agent labels are LDH, reverse labels digits): what this instance has there is its one SRV,
    // once per capability spelled to that label, all equal. One is enough (a duplicate is dropped
    // and an over-budget one reported once per instance). At 20,000 agents a capability owner
    // has thousands of contributors, rebuilt on every change to any of them.
    if (only !== null && idOwner !== null && only.charCodeAt(0) === 0x5f) {
      add(this.#mesh, only, { type: RRType.SRV, ttl, priority: SRV_PRIORITY, weight: SRV_WEIGHT, port: instance.port, target: idOwner });
      return;
    }
    const wants = (owner: string) => only === null || only === owner;
    // Reverse owners are never inside the mesh zone's names an instance claims; a rebuild of a
    // mesh owner skips the reverse-name arithmetic, and of a reverse owner the mesh records.
    const reverseToo = only === null || !isInZone(only, this.#mesh.apex) || this.#reverseInsideMesh;
    const addPtr = (address: string, target: string) => {
      const owner = reverseName(address);
      if (!wants(owner)) return;
      const reverse = this.#reverseZoneFor(owner);
      if (reverse) add(reverse, owner, { type: RRType.PTR, ttl, target });
    };
    const withPtr = instance.ptr !== false;
    for (const address of instance.addresses) {
      const record = (): ZoneRecord => (address.includes(':') ? { type: RRType.AAAA, ttl, address } : { type: RRType.A, ttl, address });
      if (nameOwner && wants(nameOwner)) add(this.#mesh, nameOwner, record());
      if (idOwner) {
        if (wants(idOwner)) add(this.#mesh, idOwner, record());
        if (withPtr && reverseToo) addPtr(address, idOwner);
      } else if (nameOwner && withPtr && reverseToo) {
        addPtr(address, nameOwner);
      }
    }
    if (!idOwner) return;
    if (skipped !== null || wants(idOwner)) {
      const txt = instanceTxtBounded(instance);
      if (skipped !== null && (txt.omitted > 0 || txt.cut > 0)) {
        skipped.push({ id: instance.id, reason: 'txt_truncated', detail: `${txt.omitted} capabilities left out, ${txt.cut} strings cut to 255 bytes` });
      }
      if (wants(idOwner)) add(this.#mesh, idOwner, { type: RRType.TXT, ttl, strings: txt.strings });
    }
    const srv = { type: RRType.SRV, ttl, priority: SRV_PRIORITY, weight: SRV_WEIGHT, port: instance.port, target: idOwner } as const;
    // `_mcp._tcp.<name>` is answered from the name's node (service-nodes.ts) unless config holds it.
    if (nameOwner && only === null) {
      if (this.#heldServiceBases.has(nameOwner)) add(this.#mesh, flatOwnerName('_mcp._tcp', nameOwner), srv);
    }
    else if (nameOwner && only!.length === nameOwner.length + 10 && only!.endsWith(nameOwner) && only!.startsWith('_mcp._tcp.')) add(this.#mesh, only!, srv);
    const suffix = instance.domain ? `${instance.domain}.${zone}` : zone;
    // A capability owner is `_<label>._tcp.<suffix>`: other rebuilds skip the label checks.
    if (only !== null && !(only.startsWith('_') && only.endsWith(suffix) && only.endsWith(`._tcp.${suffix}`))) return;
    for (const capability of instance.capabilities) {
      const label = capabilityLabel(capability.name);
      if (label) {
        if (only === null) add(this.#mesh, flatOwnerName(`${label}._tcp`, suffix), srv);
        else if (only.length === label.length + 6 + suffix.length && only.startsWith(label) && only.startsWith('._tcp.', label.length)) add(this.#mesh, only, srv);
      } else if (skipped !== null) {
        skipped.push({ id: instance.id, reason: 'invalid_capability_label', detail: capability.name });
      }
    }
  }

  // --- owners -------------------------------------------------------------------------------

  /**
   * One owner's records from its base and its contributors in list order (compileZone's
   * addAgentRecord), the zone they belong to, and what was skipped at the owner into `skips`.
   */
  #ownerRecords(owner: string, held: Contributors | null, skips: SkippedInstance[]): { records: ZoneRecord[]; zone: AuthoritativeZone | undefined } {
    const contributors: readonly InstanceState[] = held === null ? NONE : Array.isArray(held) ? held : [held];
    const base = this.#base.get(owner);
    let zone = base?.zone;
    const records: ZoneRecord[] = base ? [...base.records] : [];
    if (this.#staticOwners.has(owner)) {
      const reason = this.#staticReason(owner);
      const reported = new Set<string>();
      for (const state of contributors) {
        if (reported.has(state.instance.id)) continue;
        reported.add(state.instance.id);
        let firstType = 0;
        this.#forEachRecord(state, owner, (_zone, _owner, record) => {
          firstType ||= record.type;
        }, null);
        skips.push({ id: owner, reason, detail: `agent ${state.instance.id}: record of type ${firstType}` });
      }
    } else if (contributors.length > 0 && owner.charCodeAt(0) === 0x5f && base === undefined) {
      this.#rebuildSrvOwner(owner, contributors, records, skips);
      zone = this.#mesh;
    } else if (contributors.length > 0) {
      // compileZone's duplicate rule (two agents on one address give one A record) on a key
      // built from the record's fields instead of its JSON.
      const seen = new Set(records.map(recordKey));
      let bytes = records.reduce((sum, record) => sum + estimatedRecordSize(record), 0);
      let overBudget: Set<string> | null = null;
      let overBudgetDetail: string | null = null;
      let current: InstanceState = contributors[0]!;
      const add = (recordZone: AuthoritativeZone, _owner: string, record: ZoneRecord) => {
        zone ??= recordZone;
        const key = recordKey(record);
        if (seen.has(key)) return;
        const size = estimatedRecordSize(record);
        if (bytes + size > OWNER_ANSWER_BUDGET) {
          overBudget ??= new Set();
          if (!overBudget.has(current.instance.id)) {
            overBudget.add(current.instance.id);
            skips.push({ id: current.instance.id, reason: 'answer_size', detail: (overBudgetDetail ??= `${owner} holds ${OWNER_ANSWER_BUDGET} bytes of records`) });
          }
          return;
        }
        seen.add(key);
        bytes += size;
        records.push(record);
      };
      for (const state of contributors) {
        current = state;
        this.#forEachRecord(state, owner, add, null);
      }
    }
    return { records, zone: zone ?? this.#zoneOf(owner) };
  }

  /**
   * A derived node's RRsets, built again from its agents: what #rebuildOwner found when it made
   * the node, because every change to what they contribute rebuilds the owner first (see
   * DerivedNode). One shared function, reached through the engine's node class (derivedNodeClass).
   */
  readonly #deriveRRsets = (node: DerivedNode): RRsetList => groupByType(this.#ownerRecords(node.owner, node.contributors, []).records);
  readonly #DerivedNode = derivedNodeClass(this.#deriveRRsets);
  /** The same for a PTR name a reverse zone indexes (#toIndex): its one contributor. */
  readonly #indexedPtrRRsets = (owner: string, state: InstanceState): RRsetList => groupByType(this.#ownerRecords(owner, state, []).records);

  /** One owner's RRsets from its base and its contributors, held or derived (see DerivedNode). */
  #rebuildOwner(owner: string): void {
    this.#fromIndex(owner);
    const skips: SkippedInstance[] = [];
    // Where the contributors were kept (#contributorsOf, with the node found once): taken off it,
    // the node (or a new one) gets them back below.
    const holder = this.#nodeWithContributors(owner);
    const pending = this.#pendingContributors.get(owner);
    const held = pending !== undefined ? pending : (holder?.contributors ?? null);
    if (holder !== undefined) holder.contributors = null;
    const { records, zone } = this.#ownerRecords(owner, held, skips);
    if (!sameSkips(this.#ownerSkips.get(owner), skips)) this.#skipsChanged = true;
    if (skips.length > 0) this.#ownerSkips.set(owner, skips);
    else this.#ownerSkips.delete(owner);
    if (zone === undefined) return;

    const node = heldNode(zone, owner);
    let before = 0;
    if (node) {
      for (const [type, count] of node instanceof DerivedNode ? node.typeCounts() : countsOf(node.rrsets())) {
        before += count;
        this.#countType(type, -count);
      }
    }
    if (records.length > 0 && before === 0) this.#pin(zone, owner, 1);
    let target = heldNode(zone, owner);
    if (target !== undefined) {
      const rrsets = groupByType(records);
      // An owner with records from config (its base, a static claim) is held: only agents'
      // records are built again, and the apex's SOA changes with every serial.
      const counts = !this.#base.has(owner) && !this.#staticOwners.has(owner) ? derivedCounts(rrsets) : NOT_DERIVABLE;
      if (counts !== NOT_DERIVABLE) {
        if (!(target instanceof DerivedNode)) zone.nodes.set(owner, (target = new this.#DerivedNode(owner, target.below)));
        target.counts = counts;
      } else {
        if (target instanceof DerivedNode) zone.nodes.set(owner, (target = PinnedNode.below(target.below)));
        target.assign(rrsets);
      }
      for (const [type, count] of countsOf(rrsets)) this.#countType(type, count);
      // Every contributor adds at least one record (the first always fits OWNER_ANSWER_BUDGET), so
      // an owner with contributors has records, and so a node: they live on it until the next rebuild.
      target.contributors = held;
    }
    if (records.length === 0 && before > 0) this.#pin(zone, owner, -1);
    else this.#toIndex(zone, owner);
    this.#records += records.length - before;
    if (zone === this.#mesh) this.#rebuildService(owner, node?.services ?? 0, records.length > 0 ? target : undefined, held);
  }

  /**
   * The service name of agent name `owner` (`_mcp._tcp.<owner>`, service-nodes.ts) after `owner` was
   * rebuilt: its SRV count on the node, the type and record counts, its skips, its memoised answers.
   */
  #rebuildService(owner: string, before: number, node: HeldNode | undefined, held: Contributors | null): void {
    if (before === 0 && (node === undefined || held === null || owner.charCodeAt(0) === 0x5f || this.#heldServiceBases.has(owner))) return;
    const service = flatOwnerName('_mcp._tcp', owner);
    const skips: SkippedInstance[] = [];
    const after = node === undefined || this.#heldServiceBases.has(owner) ? 0 : this.#serviceRecords(service, owner, held, skips).length;
    if (node !== undefined) node.services = after;
    this.#countType(RRType.SRV, after - before);
    this.#records += after - before;
    // A plain Map only after #fallback, whose zone the holder replaces before the next apply.
    if (this.#mesh.nodes instanceof ServiceNodes) this.#mesh.nodes.serviceChanged(owner, before, after);
    if (!sameSkips(this.#ownerSkips.get(service), skips)) this.#skipsChanged = true;
    if (skips.length > 0) this.#ownerSkips.set(service, skips);
    else this.#ownerSkips.delete(service);
    this.#rebuiltServices.push(service);
  }

  /**
   * The SRV records at `_mcp._tcp.<name>`: one per contributor at the name that serves it under its
   * won name and has its id label (the target), in list order, within OWNER_ANSWER_BUDGET (as
   * #rebuildSrvOwner, and compileZone's addAgentRecord). Skips past the budget go to `skips`.
   */
  #serviceRecords(service: string, name: string, held: Contributors | null, skips: SkippedInstance[] | null): ZoneRecord[] {
    const records: ZoneRecord[] = [];
    if (held === null) return records;
    const { ttl } = this.#options;
    let bytes = 0;
    let detail: string | null = null;
    for (const state of Array.isArray(held) ? held : [held]) {
      const target = state.idOwner;
      if (state.nameOwner !== name || target === null) continue;
      const size = SRV_FIXED_SIZE + nameWireLength(target);
      if (bytes + size > OWNER_ANSWER_BUDGET) {
        skips?.push({ id: state.instance.id, reason: 'answer_size', detail: (detail ??= `${service} holds ${OWNER_ANSWER_BUDGET} bytes of records`) });
        continue;
      }
      bytes += size;
      records.push({ type: RRType.SRV, ttl, priority: SRV_PRIORITY, weight: SRV_WEIGHT, port: state.instance.port, target });
    }
    return records;
  }

  /** A service name's RRsets, built from its agent name's node when asked (see ServiceNodes). */
  readonly #serviceRRsets = (name: string, base: OwnerNode): RRsetList => {
    const records = this.#serviceRecords('', name, (base as HeldNode).contributors, null);
    return records.length === 0 ? [] : [RRType.SRV, records];
  };

  /**
   * #rebuildOwner for `_mcp._tcp.<name>` and capability owners (see #forEachRecord): each
   * contributor has one SRV there whose target is its own id name, so no two are equal and no
   * duplicate set is needed; the rest is compileZone's budget rule. A capability owner of 100,000
   * agents has ~14,000 contributors, walked on every change to one of them: 13.6 ms per change
   * through the general path's closure and keys, ~1 ms here.
   */
  #rebuildSrvOwner(owner: string, contributors: readonly InstanceState[], records: ZoneRecord[], skips: SkippedInstance[]): void {
    const { ttl } = this.#options;
    let bytes = 0;
    let detail: string | null = null;
    for (const state of contributors) {
      const target = state.idOwner!;
      const size = SRV_FIXED_SIZE + nameWireLength(target);
      if (bytes + size > OWNER_ANSWER_BUDGET) {
        skips.push({ id: state.instance.id, reason: 'answer_size', detail: (detail ??= `${owner} holds ${OWNER_ANSWER_BUDGET} bytes of records`) });
        continue;
      }
      bytes += size;
      records.push({ type: RRType.SRV, ttl, priority: SRV_PRIORITY, weight: SRV_WEIGHT, port: state.instance.port, target });
    }
  }

  /** Counts an owner with records in or out at itself and each ancestor; nodes live while counted. */
  #pin(zone: AuthoritativeZone, owner: string, delta: 1 | -1): void {
    for (let name = owner; ; name = parentName(name)) {
      let node = heldNode(zone, name);
      const count = (node?.below ?? 0) + delta;
      if (count > 0) {
        if (node === undefined) {
          zone.nodes.set(name, (node = new PinnedNode()));
          if (zone.nodes instanceof ServiceNodes) zone.nodes.heldChanged(name, 1);
          // Raised, never lowered here (ZoneSet.deepestName): a pass over every name per change costs ms.
          if (zone === this.#mesh) this.zones.deepestName = Math.max(this.zones.deepestName, meshNameDepth(name, zone.apex.length));
        }
        node.below = count;
      } else if (node !== undefined) {
        zone.nodes.delete(name);
        if (zone.nodes instanceof ServiceNodes) zone.nodes.heldChanged(name, -1);
      }
      if (name === zone.apex || name === '') return;
    }
  }

  #countType(type: number, delta: number): void {
    const count = (this.#typeCounts.get(type) ?? 0) + delta;
    if (count > 0) this.#typeCounts.set(type, count);
    else this.#typeCounts.delete(type);
    const present = this.zones.typesPresent as Set<number>;
    if (count > 0) present.add(type);
    else present.delete(type);
  }

  /** A new serial: new SOA objects in every zone (encoded answers are cached per record object). */
  #setSerial(serial: number): void {
    this.zones.serial = serial;
    for (const zone of this.zones.byApex.values()) {
      const soa = { ...zone.soa, serial };
      zone.soa = soa;
      zone.negativeSoa = { ...zone.negativeSoa, serial };
      (zone.nodes.get(zone.apex) as ZoneNode).set(RRType.SOA, [soa]);
      const base = this.#base.get(zone.apex)!;
      base.records = base.records.map((record) => (record.type === RRType.SOA ? soa : record));
    }
  }

  #collectSkipped(): SkippedInstance[] {
    const skipped: SkippedInstance[] = [];
    for (const state of this.#states.values()) skipped.push(...state.skipped);
    for (const skips of this.#labelSkips.values()) skipped.push(...skips);
    for (const skips of this.#ownerSkips.values()) skipped.push(...skips);
    return skipped;
  }

  #staticReason(owner: string): SkippedInstance['reason'] {
    return this.#staticOwners.get(owner) === RRType.CNAME ? 'shadowed_by_static_cname' : 'shadowed_by_static';
  }

  /** The most specific reverse zone holding `owner` (see compileZone's reverseBuilderFor). */
  #reverseZoneFor(owner: string): AuthoritativeZone | undefined {
    let found: AuthoritativeZone | undefined;
    for (const candidate of this.#reverse) {
      if (isInZone(owner, candidate.apex) && (!found || candidate.apex.length > found.apex.length)) found = candidate;
    }
    return found;
  }

  #zoneOf(owner: string): AuthoritativeZone | undefined {
    return isInZone(owner, this.#mesh.apex) ? this.#mesh : this.#reverseZoneFor(owner);
  }

  // --- whole rebuilds -----------------------------------------------------------------------

  /** Forgets every instance: the next apply builds from the zones without agents. */
  #reset(): void {
    const touchedOwners = new Set<string>();
    for (const zone of this.zones.byApex.values()) {
      for (const [owner, node] of zone.nodes) if ((node as HeldNode).contributors != null) touchedOwners.add(owner);
    }
    for (const owner of touchedOwners) this.#pendingContributors.set(owner, null);
    this.#states = new Map();
    this.#otherClaims.clear();
    this.#labelSkips.clear();
    this.#idKeyedInstances = 0;
    this.#otherInstanceIds.clear();
    this.#sharedIds = 0;
    for (const owner of touchedOwners) this.#rebuildOwner(owner);
    this.#pendingContributors.clear();
    this.#ownerSkips.clear();
  }

  /**
   * Two instances with one (domain, id): not a projection (ids are unique), so no incremental
   * bookkeeping; the zone takes compileZone's output as it is, and the next apply starts over.
   */
  #fallback(instances: readonly MeshInstance[], serial: number): ApplyCounts {
    this.#reset();
    const compiled = compileZone(instances, this.#staticRecords, { ...this.#options, serial });
    // Copy the nodes in: the zone set object must stay the one the holder hands out.
    for (const [apex, zone] of compiled.byApex) {
      const own = this.zones.byApex.get(apex)!;
      Object.assign(own, zone);
      own.nodes = zone.nodes;
    }
    this.zones.typesPresent = compiled.typesPresent;
    this.zones.stats = compiled.stats;
    this.zones.skipped = compiled.skipped;
    this.zones.serial = serial;
    this.zones.deepestName = compiled.deepestName;
    this.zones.answerMemo.clear();
    this.#poisoned = true;
    this.lastApply = { reencodedInstances: instances.length, rebuiltOwners: compiled.stats.names, full: true };
    return this.lastApply;
  }

  #poisoned = false;

  /** Published instances the zone holds. */
  get instanceCount(): number {
    return this.#states.size;
  }

  /** True after a fallback: the holder replaces this object with a fresh one. */
  get needsRebuild(): boolean {
    return this.#poisoned;
  }
}

/**
 * A node that counts the owners with records at or below it: it lives while the count is above 0,
 * so empty non-terminals come and go with the names under them (RFC 8020). The count sits on the
 * node instead of in a map beside the zone: one entry less per owner name (~43 B, 50,000 names
 * at 10,000 agents).
 */
class PinnedNode extends ZoneNode {
  below = 0;
  /** SRV records at `_mcp._tcp.<this name>` (service-nodes.ts); 0 for other names. */
  services = 0;
  /**
   * The instances with records here (see IncrementalZone.#pendingContributors), when agents have
   * records at a held owner: one with base or static records, or past a derived node's counts.
   */
  contributors: Contributors | null = null;

  static of(node: OwnerNode): PinnedNode {
    const pinned = new PinnedNode();
    pinned.assign(node.rrsets());
    return pinned;
  }

  static below(count: number): PinnedNode {
    const pinned = new PinnedNode();
    pinned.below = count;
    return pinned;
  }
}

/**
 * An owner name only agents have records at (an agent's name, its id, its PTR: every name held per
 * agent, `_mcp._tcp.<name>` and `_tcp.<name>` being answered from the name's node by
 * service-nodes.ts; a capability with up to 1,023 providers). It holds how many records
 * of each type the owner has, not the records: they are built again from the agents when
 * an answer is encoded (#deriveRRsets), and the encoded answer is what the answer memo keeps.
 * Memory (issue 9 item 4): a held node costs its object, its [type, rrset] array, one array per
 * RRset and one object per record (TXT: its strings too), ~200–500 B per owner without pointer
 * compression; this is one object. Lookups that decide NODATA or NXDOMAIN (has, size) read the
 * counts and build nothing; building is a few µs, once per answer memoised.
 *
 * Why the records built later are the ones the zone held: #rebuildOwner makes this node from the
 * InstanceStates of the owner's contributors, and any change to what they contribute here (an
 * instance, the labels it won, an agent leaving or joining the owner, the list order) rebuilds the
 * owner again in the same synchronous apply(); the states are not touched between applies. The
 * differential test (test/unit/zone/incremental.test.ts) compares every node and every answer with
 * compileZone's.
 */
abstract class DerivedNode extends OwnerNode {
  below: number;
  /** Records per type, in DERIVED_TYPES order and COUNT_BITS widths (see derivedCounts). */
  counts = 0;
  /** SRV records at `_mcp._tcp.<this name>` (service-nodes.ts); 0 for other names. */
  services = 0;
  readonly owner: string;
  /** The instances with records here, in list order: what rrsets() builds from. */
  contributors: Contributors | null = null;

  constructor(owner: string, below: number) {
    super();
    this.owner = owner;
    this.below = below;
  }

  override get ownerName(): string {
    return this.owner;
  }

  override get size(): number {
    let size = 0;
    for (let slot = 0; slot < DERIVED_TYPES.length; slot++) if (countAt(this.counts, slot) !== 0) size++;
    return size;
  }

  override has(type: number): boolean {
    const slot = DERIVED_TYPES.indexOf(type);
    return slot >= 0 && countAt(this.counts, slot) !== 0;
  }

  override get(type: number): ZoneRecord[] | undefined {
    return this.has(type) ? super.get(type) : undefined;
  }

  *typeCounts(): Generator<[number, number]> {
    for (let slot = 0; slot < DERIVED_TYPES.length; slot++) {
      const count = countAt(this.counts, slot);
      if (count > 0) yield [DERIVED_TYPES[slot]!, count];
    }
  }
}

/**
 * The DerivedNode class of one engine: rrsets() reaches the engine through the class, not through
 * a field of every node (8 B × 40,000 nodes at 10,000 agents). An engine per view, so a few classes.
 */
function derivedNodeClass(derive: (node: DerivedNode) => RRsetList): new (owner: string, below: number) => DerivedNode {
  return class extends DerivedNode {
    rrsets(): RRsetList {
      return derive(this);
    }
  };
}

/** Nodes the incremental zone puts in its zones. */
type HeldNode = PinnedNode | DerivedNode;

/** The node the zone holds at `name` (never a service name answered from its agent name's node, nor an indexed PTR name). */
function heldNode(zone: AuthoritativeZone, name: string): HeldNode | undefined {
  return (zone.nodes instanceof NodesWithUnheldNames ? zone.nodes.held(name) : zone.nodes.get(name)) as HeldNode | undefined;
}

/**
 * The types agents' records have, and the bits each one's count takes in a derived node's counts.
 * They add up to 30, so the counts stay a small integer (V8's Smi): with 5 × 8 bits the field of
 * every node became a boxed double (+16 B). SRV takes 10 (up to 1,023): a capability's owner lists
 * one SRV per provider, up to OWNER_ANSWER_BUDGET (32 KiB, ~700 SRVs with 30-byte targets). With
 * 6 bits each, capability owners of over 63 providers were held as records: 14,500 SRV objects of
 * 72 B at 10,000 agents (test/bench/zone-heap.ts). TXT: one per agent id. An owner past its width
 * (64 agents on one address: 64 PTRs) is held.
 */
const DERIVED_TYPES: readonly number[] = [RRType.A, RRType.AAAA, RRType.TXT, RRType.SRV, RRType.PTR];
const COUNT_BITS: readonly number[] = [6, 6, 2, 10, 6];
const COUNT_SHIFTS: readonly number[] = COUNT_BITS.map((_, slot) => COUNT_BITS.slice(0, slot).reduce((sum, bits) => sum + bits, 0));
const NOT_DERIVABLE = -1;
/** A derived node's counts for one PTR record and nothing else. */
const ONE_PTR = 1 << COUNT_SHIFTS[DERIVED_TYPES.indexOf(RRType.PTR)]!;

function countAt(counts: number, slot: number): number {
  return (counts >>> COUNT_SHIFTS[slot]!) & ((1 << COUNT_BITS[slot]!) - 1);
}

/** A derived node's counts for these RRsets, or NOT_DERIVABLE (none, another type, or more of one than its bits hold). */
function derivedCounts(rrsets: RRsetList): number {
  if (rrsets.length === 0) return NOT_DERIVABLE;
  let counts = 0;
  for (let index = 0; index < rrsets.length; index += 2) {
    const slot = DERIVED_TYPES.indexOf(rrsets[index] as number);
    const count = (rrsets[index + 1] as ZoneRecord[]).length;
    if (slot < 0 || count >= 1 << COUNT_BITS[slot]!) return NOT_DERIVABLE;
    counts |= count << COUNT_SHIFTS[slot]!;
  }
  return counts;
}

/** [type, record count] of each RRset. */
function* countsOf(rrsets: RRsetList): Generator<[number, number]> {
  for (let index = 0; index < rrsets.length; index += 2) yield [rrsets[index] as number, (rrsets[index + 1] as ZoneRecord[]).length];
}

/**
 * Records grouped into [type, rrset, …] in the order their types first appear, each array of its
 * exact size (arrays grown by push keep up to 16 spare slots; most owners hold one record).
 */
function groupByType(records: readonly ZoneRecord[]): RRsetList {
  const rrsets: (number | ZoneRecord[])[] = [];
  for (let index = 0; index < records.length; index++) {
    const type = records[index]!.type;
    let seen = false;
    for (let at = 0; at < rrsets.length; at += 2) if (rrsets[at] === type) seen = true;
    if (seen) continue;
    let count = 1;
    for (let next = index + 1; next < records.length; next++) if (records[next]!.type === type) count++;
    const rrset = new Array<ZoneRecord>(count);
    for (let next = index, filled = 0; filled < count; next++) if (records[next]!.type === type) rrset[filled++] = records[next]!;
    rrsets.push(type, rrset);
  }
  return rrsets.length > 2 ? rrsets.slice() : rrsets;
}

/**
 * The instances with records at one owner, in list order: most owners (an agent's own name and id)
 * have one, held without an array (~30 B less per owner name).
 */
type Contributors = InstanceState | InstanceState[];

/** The contributors without `state` (one left: without an array; none: null). */
function without(held: Contributors | null, state: InstanceState): Contributors | null {
  if (held === null) return null;
  if (!Array.isArray(held)) return held === state ? null : held;
  const index = held.indexOf(state);
  if (index >= 0) held.splice(index, 1);
  return held.length === 0 ? null : held.length === 1 ? held[0]! : held;
}

/** Takes `state` out of the instances held at `owner` (one left: held without an array; none: deleted). */
function removeFrom(map: Map<string, Contributors>, owner: string, state: InstanceState): void {
  const held = map.get(owner);
  if (held === undefined) return;
  const rest = without(held, state);
  if (rest === null) map.delete(owner);
  else if (rest !== held) map.set(owner, rest);
}

/** Adds `state` to the instances held at `owner`, once (one: held without an array). */
function addTo(map: Map<string, Contributors>, owner: string, state: InstanceState): void {
  const held = map.get(owner);
  if (held === undefined) map.set(owner, state);
  else if (!Array.isArray(held)) {
    if (held !== state) map.set(owner, [held, state]);
  } else if (!held.includes(state)) held.push(state);
}

/** The string an instance in `held` claims `owner` with, to share it. */
function firstClaimed(held: Contributors | undefined, owner: string): string | undefined {
  if (held === undefined) return undefined;
  const first = Array.isArray(held) ? held[0]! : held;
  return first.nameClaimed === owner ? first.nameClaimed : first.idClaimed === owner ? first.idClaimed : undefined;
}

/** Where an instance at `position` goes in a list sorted by position (binary search). */
function insertionIndex(list: readonly InstanceState[], position: number): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (list[middle]!.position < position) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** estimatedRecordSize (compile.ts) of an SRV without its target: compressed owner, fixed fields, priority, weight, port. */
const SRV_FIXED_SIZE = 2 + 10 + 6;

/**
 * compileZone's duplicate test is JSON.stringify(record) equality; the same for the record shapes
 * the zone holds (field order is fixed per type), without building JSON for every record of a
 * capability owner on each rebuild.
 */
function recordKey(record: ZoneRecord): string {
  switch (record.type) {
    case RRType.A:
    case RRType.AAAA:
      return `${record.type} ${record.ttl} ${record.address}`;
    case RRType.PTR:
    case RRType.CNAME:
    case RRType.NS:
      return `${record.type} ${record.ttl} ${record.target}`;
    case RRType.SRV:
      return `${record.type} ${record.ttl} ${record.priority} ${record.weight} ${record.port} ${record.target}`;
    default:
      return JSON.stringify(record);
  }
}

function sameSkips(a: readonly SkippedInstance[] | undefined, b: readonly SkippedInstance[]): boolean {
  const before = a ?? [];
  return before.length === b.length && before.every((skip, index) => skip.id === b[index]!.id && skip.reason === b[index]!.reason && skip.detail === b[index]!.detail);
}

/** Field-wise equality of everything compileZone reads from an instance. */
export function sameInstance(a: MeshInstance, b: MeshInstance): boolean {
  if (a === b) return true;
  if (
    a.id !== b.id || a.name !== b.name || a.scheme !== b.scheme || a.port !== b.port || a.version !== b.version ||
    a.runtime !== b.runtime || a.agentType !== b.agentType || (a.domain ?? '') !== (b.domain ?? '') || (a.ptr !== false) !== (b.ptr !== false) ||
    a.addresses.length !== b.addresses.length || a.capabilities.length !== b.capabilities.length
  ) return false;
  for (let i = 0; i < a.addresses.length; i++) if (a.addresses[i] !== b.addresses[i]) return false;
  for (let i = 0; i < a.capabilities.length; i++) {
    if (a.capabilities[i]!.name !== b.capabilities[i]!.name || a.capabilities[i]!.version !== b.capabilities[i]!.version) return false;
  }
  return true;
}
