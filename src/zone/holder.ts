// Holds the zone set the DNS path answers from and rebuilds it when its inputs change
// (registry projection, static records on SIGHUP). The swap is one assignment: a query sees
// either the old zone or the new one, never a mix.

import { Gauge, type Registry } from '../metrics/prom-client.ts';
import type { Logger } from 'pino';
import { compileZone, type MeshInstance, type StaticRecord, type ZoneCompileOptions } from './compile.ts';
import { reverseZonesForCidr } from './reverse.ts';
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

export class ZoneHolder {
  private zones: ZoneSet;
  private instances: readonly MeshInstance[] = [];
  private staticRecords: readonly StaticRecord[];
  private settings: ZoneSettings;
  private lastSerial = 0;
  private readonly warnedSkips = new Set<string>();
  private readonly gauges: { names: Gauge; records: Gauge; agents: Gauge; serial: Gauge; skipped: Gauge<'reason'> };
  private readonly logger: Logger;

  constructor(settings: ZoneSettings, staticRecords: readonly StaticRecord[], register: Registry, logger: Logger) {
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
    this.zones = this.compile();
  }

  current(): ZoneSet {
    return this.zones;
  }

  setInstances(instances: readonly MeshInstance[]): void {
    this.instances = instances;
    this.zones = this.compile();
  }

  setStatic(settings: ZoneSettings, staticRecords: readonly StaticRecord[]): void {
    this.settings = settings;
    this.staticRecords = staticRecords;
    this.zones = this.compile();
  }

  private compile(): ZoneSet {
    // Serial: seconds since the epoch, but always increasing even for two changes in one second.
    this.lastSerial = Math.max(this.lastSerial + 1, Math.floor(Date.now() / 1000)) >>> 0;
    const options: ZoneCompileOptions = {
      zone: this.settings.zone,
      ttl: this.settings.ttl,
      negativeTtl: this.settings.negativeTtl,
      reverseZones: this.settings.reverseCidrs.flatMap(reverseZonesForCidr),
      serial: this.lastSerial,
    };
    const zones = compileZone(this.instances, this.staticRecords, options);
    this.gauges.names.set(zones.stats.names);
    this.gauges.records.set(zones.stats.records);
    this.gauges.agents.set(zones.stats.agents);
    this.gauges.serial.set(zones.serial);
    this.gauges.skipped.reset();
    // Every reason present with 0, so an alert on a collision sees a series before the first one.
    for (const reason of ZONE_SKIP_REASONS) this.gauges.skipped.set({ reason }, 0);
    for (const skip of zones.skipped) {
      this.gauges.skipped.inc({ reason: skip.reason });
      const key = `${skip.id}|${skip.reason}|${skip.detail}`;
      if (this.warnedSkips.size > 10_000) this.warnedSkips.clear(); // bounded: agents come and go
      if (!this.warnedSkips.has(key)) {
        this.warnedSkips.add(key);
        this.logger.warn({ agent: skip.id, reason: skip.reason, value: skip.detail }, SKIP_MESSAGES[skip.reason]);
      }
    }
    return zones;
  }
}
