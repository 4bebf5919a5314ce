// Prometheus metrics of the registry sync. Every label has a fixed, small value set.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { FORMAT_CODES } from './errors.ts';
import { PROBE_FAILURE_REASONS, type EndpointProbeMetrics } from './endpoint-probe.ts';
import { SNAPSHOT_SKIP_REASONS } from './snapshot-store.ts';
import { SKIP_REASONS, type PollFailureReason, type SkipReason } from './types.ts';

export interface RegistryMetrics {
  polls: Counter<'result'>;
  pollFailures: Counter<'reason'>;
  lastSuccessTimestamp: Gauge;
  syncDuration: Histogram;
  agents: Gauge;
  skippedAgents: Gauge<'reason'>;
  zoneUpdates: Counter;
  snapshotWrites: Counter<'result'>;
  snapshotWriteFailing: Gauge;
  snapshotSkippedAgents: Gauge<'reason'>;
  rejectedBodies: Counter<'code'>;
  up: Gauge;
  unreachableEndpoints: Gauge;
  endpointProbeFailures: Counter<'reason'>;
}

const FAILURE_REASONS: readonly PollFailureReason[] = ['http', 'timeout', 'connect', 'format', 'internal'];

export function createRegistryMetrics(register: Registry): RegistryMetrics {
  const registers = [register];
  const metrics: RegistryMetrics = {
    polls: new Counter({
      name: 'meshdns_registry_polls_total',
      help: 'GET /agents polls by result',
      labelNames: ['result'],
      registers,
    }),
    pollFailures: new Counter({
      name: 'meshdns_registry_poll_failures_total',
      help: 'Failed polls by cause: http (non-2xx), timeout, connect, format (not a registry answer), internal (mesh-dns bug)',
      labelNames: ['reason'],
      registers,
    }),
    lastSuccessTimestamp: new Gauge({
      name: 'meshdns_registry_last_success_timestamp_seconds',
      help: 'Unix time of the last successful poll (0 before the first)',
      registers,
    }),
    // From the request to the end of projection and hostname resolution. Reference §8: 2.6 ms at
    // 10 agents, 44 ms at 1,000, 349–650 ms at 10,000, hence buckets up to 10 s.
    syncDuration: new Histogram({
      name: 'meshdns_registry_sync_duration_seconds',
      help: 'Duration of one poll: fetch, projection, hostname resolution',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    agents: new Gauge({
      name: 'meshdns_registry_agents',
      help: 'Healthy agents in the projection currently served',
      registers,
    }),
    skippedAgents: new Gauge({
      name: 'meshdns_registry_skipped_agents',
      help: 'Healthy agents left out of the zone in the last successful poll, by reason',
      labelNames: ['reason'],
      registers,
    }),
    zoneUpdates: new Counter({
      name: 'meshdns_registry_zone_updates_total',
      help: 'Projections handed to the zone builder because something changed',
      registers,
    }),
    snapshotWrites: new Counter({
      name: 'meshdns_registry_snapshot_writes_total',
      help: 'Snapshot file writes by result',
      labelNames: ['result'],
      registers,
    }),
    snapshotWriteFailing: new Gauge({
      name: 'meshdns_registry_snapshot_write_failing',
      help: '1 while the last snapshot write failed (see /ready registry.snapshot.writeError), else 0',
      registers,
    }),
    snapshotSkippedAgents: new Gauge({
      name: 'meshdns_registry_snapshot_skipped_agents',
      help: 'Agents of the snapshot file left out at load, by reason',
      labelNames: ['reason'],
      registers,
    }),
    rejectedBodies: new Counter({
      name: 'meshdns_registry_rejected_bodies_total',
      help: 'GET /agents bodies refused as not a registry answer, by code (too_deep, body_too_large, too_many_agents, not_json, ...)',
      labelNames: ['code'],
      registers,
    }),
    up: new Gauge({
      name: 'meshdns_registry_up',
      help: '1 if the last poll of the registry succeeded, else 0',
      registers,
    }),
    // No agent label: agent ids come from the registry, and any agent can register itself.
    unreachableEndpoints: new Gauge({
      name: 'meshdns_registry_unreachable_endpoints',
      help: 'Agents whose advertised endpoint refused or timed out the last TCP probe (registry.probeEndpoints; ids in /ready)',
      registers,
    }),
    endpointProbeFailures: new Counter({
      name: 'meshdns_registry_endpoint_probe_failures_total',
      help: 'Failed TCP probes of agent endpoints (one per agent change), by reason: refused, timeout, unreachable, reset, other',
      labelNames: ['reason'],
      registers,
    }),
  };
  // Pre-create every labelled series so dashboards and alerts see zeros, not absent series.
  for (const result of ['success', 'failure']) {
    metrics.polls.inc({ result }, 0);
    metrics.snapshotWrites.inc({ result }, 0);
  }
  for (const reason of FAILURE_REASONS) metrics.pollFailures.inc({ reason }, 0);
  for (const code of FORMAT_CODES) metrics.rejectedBodies.inc({ code: code.toLowerCase() }, 0);
  for (const reason of SNAPSHOT_SKIP_REASONS) metrics.snapshotSkippedAgents.set({ reason }, 0);
  for (const reason of PROBE_FAILURE_REASONS) metrics.endpointProbeFailures.inc({ reason }, 0);
  metrics.snapshotWriteFailing.set(0);
  setSkippedAgents(metrics, new Map());
  return metrics;
}

/** Sets the skipped gauge for every reason (0 for reasons with no agent), so stale values vanish. */
export function setSkippedAgents(metrics: RegistryMetrics, counts: ReadonlyMap<SkipReason, number>): void {
  for (const reason of SKIP_REASONS) metrics.skippedAgents.set({ reason }, counts.get(reason) ?? 0);
}

/** The endpoint prober's view of the registry metrics. */
export function endpointProbeMetrics(metrics: RegistryMetrics): EndpointProbeMetrics {
  return {
    setUnreachable: (count) => metrics.unreachableEndpoints.set(count),
    countFailure: (reason) => metrics.endpointProbeFailures.inc({ reason }),
  };
}
