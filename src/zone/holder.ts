// Holds the zone set the DNS path answers from and updates it when its inputs change
// (registry projection, static records on SIGHUP). A registry change is applied incrementally
// (incremental.ts: only the owners the changed agents touch are rebuilt, in one synchronous step,
// so a query sees either the old zone or the new one, never a mix); new static records or zone
// settings start every zone set afresh.

import { Gauge, type Registry } from '../metrics/prom-client.ts';
import type { Logger } from 'pino';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { StaticRecord, ZoneCompileOptions } from './compile.ts';
import { IncrementalZone, type ApplyCounts } from './incremental.ts';
import type { UnmatchedViewPolicy, ViewSpec } from '../config/views.ts';
import { reverseZonesForCidr } from './reverse.ts';
import { instancesForView, type NamespacedInstance } from './views.ts';
import { ZONE_SKIP_REASONS, type SkippedInstance, type SkipReason, type ZoneSet } from './zone.ts';

const SKIP_MESSAGES: Record<SkipReason, string> = {
  invalid_name_label: 'left out of the zone: not a valid DNS label',
  invalid_id_label: 'left out of the zone: not a valid DNS label',
  invalid_capability_label: 'left out of the zone: not a valid DNS label',
  name_collision: 'left out of the zone: the name is taken by another agent (see README "Names that collide")',
  id_collision: 'left out of the zone: the id is taken by another agent (see README "Names that collide")',
  shadowed_by_static_cname: 'left out of the zone: a static CNAME owns the name',
  shadowed_by_static: 'left out of the zone: static records own the name',
  answer_size: 'left out of the zone: the name already holds as many records as one answer can carry',
  txt_truncated: 'agent TXT shortened to fit one record',
};

export interface ZoneSettings {
  zone: string;
  ttl: number;
  negativeTtl: number;
  reverseCidrs: string[];
}

/** Views as the zone holder needs them; absent or an empty list: one zone set for everyone. */
export interface ZoneViews {
  list: readonly Pick<ViewSpec, 'name' | 'namespaces' | 'home'>[];
  unmatched: UnmatchedViewPolicy;
}

/**
 * The zone set index a client in no view gets: with `unmatched: nxdomain`, the set after the
 * views' (static records only); with `refused`, NO_VIEW, which the mesh-zone stage refuses.
 */
export const NO_VIEW = -1;

/** A zone built afresh over more agents than this is built in slices (setInstances). */
export const SLICED_BUILD_THRESHOLD = 2000;
const BUILD_SLICE = 500;

export class ZoneHolder {
  /** One zone set per view, in config order, then (views only) the set of clients in no view. */
  private zoneSets: ZoneSet[];
  private zones: ZoneSet;
  private readonly views: ZoneViews | null;
  private instances: readonly NamespacedInstance[] = [];
  private staticRecords: readonly StaticRecord[];
  private settings: ZoneSettings;
  private lastSerial = 0;
  /** One incremental zone per entry of zoneSets; null: build afresh on the next change. */
  private engines: IncrementalZone[] | null = null;
  /** The sliced build in progress (setInstances), and the static-records generation it builds for. */
  private building: Promise<void> | null = null;
  private generation = 0;
  /** setInstances was called: a registry projection (or the snapshot's) exists. */
  private projectionReceived = false;
  /** The served zone holds one: false while the first projection is still being built in slices. */
  private projectionServed = false;
  /** The skipped arrays the skip gauge and warnings last counted. */
  private censusOf: readonly SkippedInstance[][] = [];
  /**
   * Skips already warned about, by skipHash of their text: the texts themselves (id, reason and a
   * detail such as "_cap._tcp.mesh.local holds 32768 bytes of records") cost 0.75 MiB at 10,000
   * agents with 5,500 answer_size skips, their hashes ~0.2. Two skips with one hash (about 1 in
   * 10^8 among 10,000) would cost one warning line, nothing served.
   */
  private readonly warnedSkips = new Set<number>();
  private readonly gauges: { names: Gauge; records: Gauge; agents: Gauge; serial: Gauge; skipped: Gauge<'reason'> };
  private readonly logger: Logger;

  constructor(settings: ZoneSettings, staticRecords: readonly StaticRecord[], register: Registry, logger: Logger, views?: ZoneViews) {
    this.views = views && views.list.length > 0 ? views : null;
    this.settings = settings;
    this.staticRecords = staticRecords;
    this.logger = logger;
    const gauge = (name: string, help: string) => new Gauge({ name, help, registers: [register] });
    this.gauges = {
      names: gauge('meshdns_zone_names', 'Owner names in the served zones (including empty non-terminals).'),
      records: gauge('meshdns_zone_records', 'Records in the served zones.'),
      agents: gauge('meshdns_zone_agents', 'Agent instances with at least one address in the zone.'),
      serial: gauge('meshdns_zone_serial', 'SOA serial of the served zone.'),
      skipped: new Gauge({ name: 'meshdns_zone_skipped_instances', help: 'Agent instances (or capabilities) left out of the zone, by reason.', labelNames: ['reason'] as const, registers: [register] }),
    };
    this.zoneSets = this.compileAll();
    this.zones = this.zoneSets[0]!;
  }

  /**
   * The zone set of one view (the index the access-control stage put in the query context);
   * without views, or with no argument, the first (the only one without views). Stats, /ready and
   * the local-names stage read the first.
   */
  current(view = 0): ZoneSet {
    return this.zoneSets[view] ?? this.zones;
  }

  /** The zone set index a client in no view answers from, or NO_VIEW (refused). */
  unmatchedView(): number {
    return this.views === null ? 0 : this.views.unmatched === 'nxdomain' ? this.views.list.length : NO_VIEW;
  }

  /**
   * `changed`: when the caller knows the list kept its members (same ids in the same order, each
   * in the same namespace and still with or without addresses), the instances that differ; the
   * zone then looks only at those (RegistrySync passes them).
   *
   * A change to an existing zone is applied at once (incremental: what the changed agents touch).
   * A zone built afresh — the first projection, new static records — over more than
   * SLICED_BUILD_THRESHOLD agents is built beside the served one in slices of BUILD_SLICE agents
   * with the event loop let in between, then swapped in (settled() resolves then): at 20,000 agents
   * one whole build holds the loop for seconds on a loaded machine.
   */
  setInstances(instances: readonly NamespacedInstance[], changed?: readonly NamespacedInstance[]): void {
    this.projectionReceived = true;
    this.applyInstances(instances, changed);
  }

  /**
   * Whether the served zone holds the agents of a projection yet. Until it does (before the first
   * projection, and while the first one over SLICED_BUILD_THRESHOLD agents is built in slices,
   * 0.5 s at 10,000 agents, seconds at 100,000) the zone served is the static records alone: an
   * agent's name would get NXDOMAIN, which clients cache, so readiness and the mesh-zone stage's
   * not-ready answer (SERVFAIL, EDE 14) wait for this, not only for the registry sync.
   */
  servesProjection(): boolean {
    return this.projectionServed;
  }

  /** Whether a build in slices is running beside the served zone (/ready detail). */
  buildingInSlices(): boolean {
    return this.building !== null;
  }

  private applyInstances(instances: readonly NamespacedInstance[], changed?: readonly NamespacedInstance[]): void {
    this.instances = instances;
    if (this.building !== null) return; // the build in progress takes the newest list before it swaps
    const fresh = this.engines === null || this.engines.some((engine) => engine.needsRebuild) || this.engines.every((engine) => engine.instanceCount === 0);
    if (!fresh && changed !== undefined) return this.swap(changed);
    if (!fresh) return this.swap();
    if (instances.length <= SLICED_BUILD_THRESHOLD) return this.swap();
    this.building = this.buildInSlices()
      .catch((error: unknown) => this.logger.error({ err: error }, 'zone build failed; the served zone stays until the next change'))
      .finally(() => {
        this.building = null;
      });
  }

  setStatic(settings: ZoneSettings, staticRecords: readonly StaticRecord[]): void {
    this.settings = settings;
    this.staticRecords = staticRecords;
    this.generation++;
    this.engines = null;
    if (this.building === null) this.applyInstances(this.instances);
  }

  /** Resolves when no sliced build is running (tests, bench). */
  async settled(): Promise<void> {
    while (this.building !== null) await this.building;
  }

  private async buildInSlices(): Promise<void> {
    const started = performance.now();
    let slices = 0;
    for (;;) {
      const generation = this.generation;
      const engines = this.newEngines();
      let built: readonly NamespacedInstance[] | null = null;
      // Prefixes of an id-sorted list keep their order, so each slice is an incremental step and
      // the last one is the whole list; a newer list arriving meanwhile is simply applied next.
      while (built !== this.instances && generation === this.generation) {
        const target: readonly NamespacedInstance[] = this.instances;
        const perView = this.perView(target);
        const longest = Math.max(...perView.map((list) => list.length));
        for (let end = Math.min(BUILD_SLICE, longest); ; end = Math.min(end + BUILD_SLICE, longest)) {
          perView.forEach((list, index) => engines[index]!.apply(list.slice(0, Math.ceil((end / longest) * list.length) || 0), this.lastSerial));
          slices++;
          await yieldToEventLoop();
          if (end >= longest || generation !== this.generation) break;
        }
        built = target;
      }
      if (generation !== this.generation) continue; // new static records: start over with them
      this.engines = engines;
      this.swap(); // the engines already hold `built`: this applies nothing but the serial
      this.logger.info({ agents: this.instances.length, slices, ms: Math.round(performance.now() - started) }, 'zone built in slices beside the served one');
      return;
    }
  }

  /** What the last change cost per zone set (tests, bench). */
  lastApply(): ApplyCounts[] {
    return (this.engines ?? []).map((engine) => engine.lastApply);
  }

  private swap(changed?: readonly NamespacedInstance[]): void {
    const sets = this.compileAll(changed);
    // Assigned together: a query reads one array, never views of two generations.
    this.zoneSets = sets;
    this.zones = sets[0]!;
    // Every swap applies this.instances, so once one was received it is what is served.
    if (this.projectionReceived) this.projectionServed = true;
  }

  /** One zone set per view plus the unmatched one; without views, the one zone set. */
  private compileAll(changed?: readonly NamespacedInstance[]): ZoneSet[] {
    // Serial: seconds since the epoch, but always increasing even for two changes in one second.
    // One serial for every view: they are one generation of the same data.
    this.lastSerial = Math.max(this.lastSerial + 1, Math.floor(Date.now() / 1000)) >>> 0;
    if (this.engines === null || this.engines.some((engine) => engine.needsRebuild)) this.engines = this.newEngines();
    const engines = this.engines;
    const changedPerView = changed === undefined ? null : this.perView(changed);
    let perViewMemo: (readonly NamespacedInstance[])[] | null = null;
    const perView = () => (perViewMemo ??= this.perView(this.instances));
    const sets = engines.map((engine, index) => {
      if (changedPerView === null || !engine.applyChanged(changedPerView[index]!, this.lastSerial)) engine.apply(perView()[index]!, this.lastSerial);
      return engine.zones;
    });
    // With views: names and records of every set, agents counted once whatever views see them.
    this.gauges.names.set(sets.reduce((sum, set) => sum + set.stats.names, 0));
    this.gauges.records.set(sets.reduce((sum, set) => sum + set.stats.records, 0));
    this.gauges.agents.set(this.views === null ? sets[0]!.stats.agents : new Set(perView().flat().filter((instance) => instance.addresses.length > 0).map((instance) => instance.id)).size);
    this.gauges.serial.set(this.lastSerial);
    // The skip census walks every skip (15,000 at 20,000 agents when capability owners overflow
    // OWNER_ANSWER_BUDGET): only when some set's skips changed (incremental.ts keeps the array otherwise).
    if (sets.length === this.censusOf.length && sets.every((set, index) => set.skipped === this.censusOf[index])) return sets;
    this.censusOf = sets.map((set) => set.skipped);
    this.gauges.skipped.reset();
    // Every reason present with 0, so an alert on a collision sees a series before the first one.
    for (const reason of ZONE_SKIP_REASONS) this.gauges.skipped.set({ reason }, 0);
    const counted = new Set<string>();
    for (const skip of sets.flatMap((set) => set.skipped)) {
      const key = `${skip.id}|${skip.reason}|${skip.detail}`;
      // A skip seen in several views is one skip.
      if (counted.has(key)) continue;
      counted.add(key);
      this.gauges.skipped.inc({ reason: skip.reason });
      if (this.warnedSkips.size > 10_000) this.warnedSkips.clear(); // bounded: agents come and go
      const hash = skipHash(key);
      if (!this.warnedSkips.has(hash)) {
        this.warnedSkips.add(hash);
        this.logger.warn({ agent: skip.id, reason: skip.reason, value: skip.detail }, SKIP_MESSAGES[skip.reason]);
      }
    }
    return sets;
  }

  /** Each view's instances, then (views only) the unmatched set's: none. */
  private perView(instances: readonly NamespacedInstance[]): (readonly NamespacedInstance[])[] {
    return this.views === null ? [instances] : [...this.views.list.map((view) => instancesForView(instances, view)), []];
  }

  private newEngines(): IncrementalZone[] {
    return this.perView([]).map(() => new IncrementalZone(this.staticRecords, this.compileOptions()));
  }

  private compileOptions(): ZoneCompileOptions {
    return {
      zone: this.settings.zone,
      ttl: this.settings.ttl,
      negativeTtl: this.settings.negativeTtl,
      reverseZones: this.settings.reverseCidrs.flatMap(reverseZonesForCidr),
      serial: this.lastSerial,
    };
  }
}

/** A 53-bit hash of a skip's text (two 32-bit FNV-1a-style lanes): a number, exact in a double. */
export function skipHash(text: string): number {
  let low = 0x811c9dc5;
  let high = 0x9747b28c ^ text.length;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    low = Math.imul(low ^ code, 0x01000193);
    high = Math.imul(high ^ code, 0x5bd1e995);
    high ^= high >>> 15;
  }
  return (high >>> 11) * 0x100000000 + (low >>> 0);
}
