// Holds the zone set the DNS path answers from and rebuilds it when its inputs change
// (registry projection, static records on SIGHUP). The swap is one assignment: a query sees
// either the old zone or the new one, never a mix.

import { Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { compileZone, type MeshInstance, type StaticRecord, type ZoneCompileOptions } from './compile.ts';
import type { UnmatchedViewPolicy, ViewSpec } from '../config/views.ts';
import { reverseZonesForCidr } from './reverse.ts';
import { instancesForView, type NamespacedInstance } from './views.ts';
import { ZONE_SKIP_REASONS, type SkipReason, type ZoneSet } from './zone.ts';

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

export class ZoneHolder {
  /** One zone set per view, in config order, then (views only) the set of clients in no view. */
  private zoneSets: ZoneSet[];
  private zones: ZoneSet;
  private readonly views: ZoneViews | null;
  private instances: readonly NamespacedInstance[] = [];
  private staticRecords: readonly StaticRecord[];
  private settings: ZoneSettings;
  private lastSerial = 0;
  private readonly warnedSkips = new Set<string>();
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

  setInstances(instances: readonly NamespacedInstance[]): void {
    this.instances = instances;
    this.swap();
  }

  setStatic(settings: ZoneSettings, staticRecords: readonly StaticRecord[]): void {
    this.settings = settings;
    this.staticRecords = staticRecords;
    this.swap();
  }

  private swap(): void {
    const sets = this.compileAll();
    // Assigned together: a query reads one array, never views of two generations.
    this.zoneSets = sets;
    this.zones = sets[0]!;
  }

  /** One zone set per view plus the unmatched one; without views, the one zone set. */
  private compileAll(): ZoneSet[] {
    // Serial: seconds since the epoch, but always increasing even for two changes in one second.
    // One serial for every view: they are one generation of the same data.
    this.lastSerial = Math.max(this.lastSerial + 1, Math.floor(Date.now() / 1000)) >>> 0;
    const perView = this.views === null ? [this.instances] : [...this.views.list.map((view) => instancesForView(this.instances, view)), []];
    const sets = perView.map((instances) => this.compile(instances));
    // With views: names and records of every set, agents counted once whatever views see them.
    this.gauges.names.set(sets.reduce((sum, set) => sum + set.stats.names, 0));
    this.gauges.records.set(sets.reduce((sum, set) => sum + set.stats.records, 0));
    this.gauges.agents.set(this.views === null ? sets[0]!.stats.agents : new Set(perView.flat().filter((instance) => instance.addresses.length > 0).map((instance) => instance.id)).size);
    this.gauges.serial.set(this.lastSerial);
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
      if (!this.warnedSkips.has(key)) {
        this.warnedSkips.add(key);
        this.logger.warn({ agent: skip.id, reason: skip.reason, value: skip.detail }, SKIP_MESSAGES[skip.reason]);
      }
    }
    return sets;
  }

  private compile(instances: readonly MeshInstance[]): ZoneSet {
    const options: ZoneCompileOptions = {
      zone: this.settings.zone,
      ttl: this.settings.ttl,
      negativeTtl: this.settings.negativeTtl,
      reverseZones: this.settings.reverseCidrs.flatMap(reverseZonesForCidr),
      serial: this.lastSerial,
    };
    return compileZone(instances, this.staticRecords, options);
  }
}
