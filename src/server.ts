// Assembles a running mesh-dns: zone holder, registry sync, query pipeline, listeners and the
// operations HTTP server, and takes them down in order. main.ts adds the process concerns
// (arguments, signals, exit codes); tests start servers through this module directly.

import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Registry } from './metrics/prom-client.ts';
import type { LoadedConfig } from './config/load.ts';
import { OPTIONS, type MeshDnsConfig } from './config/options.ts';
import { startOperationsServer, type OperationsServer } from './http/server.ts';
import { createShutdownSequence, type ShutdownPhase, type ShutdownSequence } from './lifecycle.ts';
import { formatListenAddress, ListenError, type ListenAddress } from './listeners/address.ts';
import { createListenerMetrics, type ListenerMetrics } from './listeners/metrics.ts';
import { startTcpListener } from './listeners/tcp.ts';
import { startUdpListener, type DnsListener } from './listeners/udp.ts';
import { createQueryMetrics } from './pipeline/metrics.ts';
import { createQueryPipeline } from './pipeline/pipeline.ts';
import { ShortNameMetrics } from './pipeline/short-name-metrics.ts';
import { createQueryHandler, type QueryHandler } from './pipeline/query-handler.ts';
import { createClientAdmission, enforcedAccessPolicy } from './pipeline/stages/access-control.ts';
import { createRegistryMetrics } from './registry/metrics.ts';
import { createRegistrySync, type RegistrySync } from './registry/sync.ts';
import { viewNamespaces } from './config/views.ts';
import { ZoneHolder, type ZoneSettings } from './zone/holder.ts';
import { setUpRecursion, type Recursion } from './forward/setup.ts';
import { setUpRateLimit } from './ratelimit/setup.ts';
import { upstreamName } from './forward/types.ts';

export interface MeshDnsServer {
  readonly listeners: readonly DnsListener[];
  readonly operations: OperationsServer | null;
  readonly zone: ZoneHolder;
  readonly registry: RegistrySync | null;
  readonly metricsRegistry: Registry;
  readonly handler: QueryHandler;
  /** DNS requests received so far (what counts as quiet for src/runtime/heap-trim.ts). */
  requestsSoFar(): number;
  /** Re-applies zone settings and static records from a freshly loaded config (SIGHUP). */
  reload(loaded: LoadedConfig): void;
  /** Stops taking queries, lets in-flight ones finish (up to shutdown.grace), releases everything. */
  stop(): Promise<void>;
  /** The SIGTERM sequence: lame duck (shutdown.lameDuck, /ready 503), then stop(). See lifecycle.ts. */
  readonly shutdown: ShutdownSequence;
}

/** Option keys (outside zone.*, which SIGHUP applies) whose value differs between two configs. */
export function settingsNeedingRestart(running: MeshDnsConfig, next: MeshDnsConfig): string[] {
  const valueAt = (config: MeshDnsConfig, key: string) => {
    const [section, name] = key.split('.') as [string, string];
    return (config as unknown as Record<string, Record<string, unknown>>)[section]?.[name];
  };
  return OPTIONS.filter((option) => !option.key.startsWith('zone.') && !isDeepStrictEqual(valueAt(running, option.key), valueAt(next, option.key)))
    .map((option) => option.key);
}

function zoneSettings(config: MeshDnsConfig): ZoneSettings {
  return { zone: config.zone.name, ttl: config.zone.ttl, negativeTtl: config.zone.negativeTtl, reverseCidrs: config.zone.reverseZones };
}

export async function startMeshDns(loaded: LoadedConfig, logger: Logger): Promise<MeshDnsServer> {
  const { config } = loaded;
  const metricsRegistry = new Registry();
  collectDefaultMetrics({ register: metricsRegistry, prefix: 'meshdns_' });
  const internalErrors = new Counter({ name: 'meshdns_internal_errors_total', help: 'Unexpected errors caught at the process boundary.', registers: [metricsRegistry] });

  const zone = new ZoneHolder(zoneSettings(config), loaded.staticRecords, metricsRegistry, logger, config.views);
  const registry = config.registry.url === '' ? null : createRegistrySync({
    registryUrl: config.registry.url,
    pollIntervalMs: config.registry.pollInterval,
    requestTimeoutMs: config.registry.timeout,
    snapshotPath: config.registry.snapshotPath === '' ? null : config.registry.snapshotPath,
    snapshotIntervalMs: config.registry.snapshotInterval,
    eventsHintIntervalMs: config.registry.eventsHintInterval,
    resolveHostnames: config.registry.resolveHostnames,
    maxBodyBytes: config.registry.maxBodyBytes,
    bodyLimits: { maxAgents: config.registry.maxAgents },
    namespaces: viewNamespaces(config.views.list),
    probeEndpoints: config.registry.probeEndpoints ? { timeoutMs: config.registry.probeTimeout } : null,
    // The sync binds its own `component`: pino appends a child's bindings to its parent's without
    // merging, so binding it here too wrote the key twice in every registry line (not strict JSON).
    logger,
    metrics: createRegistryMetrics(metricsRegistry),
    onChange: (snapshot) => {
      zone.setInstances(snapshot.agents, snapshot.changed);
      if (zone.servesProjection()) logger.info({ source: snapshot.source, serial: zone.current().serial, ...zone.current().stats }, 'zone updated');
      else logger.info({ source: snapshot.source, agents: snapshot.agents.length }, 'zone being built in slices; mesh names are answered SERVFAIL (not ready) until it is served');
    },
  });
  if (!registry) logger.warn('no registry URL configured (MCP_MESH_REGISTRY_URL): serving static records only');

  const recursion = setUpRecursion(config, metricsRegistry, logger, loaded.sourceOf);
  if (!recursion) logger.warn('no upstreams: names outside the mesh zone will be REFUSED');
  const stages = createQueryPipeline({
    rateLimit: setUpRateLimit(config, metricsRegistry),
    zone: { current: (view) => zone.current(view), ready: () => registry === null || zoneReady(zone, registry) },
    chaosVersion: config.chaos.version,
    access: { ...config.access, viewNetworks: config.views.list.map((view) => view.networks), unmatchedView: zone.unmatchedView() },
    localNames: config.names,
    recursion: recursion?.stages ?? null,
    autopath: config.names.autopath,
    shortNameMetrics: new ShortNameMetrics(metricsRegistry),
  });
  const queryMetrics = createQueryMetrics(metricsRegistry);
  const handler = createQueryHandler({
    stages,
    metrics: queryMetrics,
    logger: logger.child({ component: 'query' }),
    queryLog: config.log.queries,
    udpPayloadSize: config.limits.udpPayloadSize,
  });

  const listenerWiring: ListenerWiring = {
    handler,
    metrics: createListenerMetrics(metricsRegistry, queryMetrics.dropped),
    // The policy the access-control stage enforces, so TCP refuses at accept exactly the clients
    // that stage would refuse every query of.
    admitsClient: createClientAdmission(enforcedAccessPolicy(config.access, recursion !== null)),
  };
  const listeners = await startListeners(config, listenerWiring, logger).catch((error: unknown) => {
    recursion?.close();
    throw error;
  });
  const operations = config.listen.http
    ? await startOperationsServer(config.listen.http, metricsRegistry, () => readiness(zone, registry, listeners, recursion, shutdown.phase()), logger, config.http.readyDetail).catch(async (error: unknown) => {
        await Promise.all(listeners.map((listener) => listener.close(0)));
        recursion?.close();
        throw error;
      })
    : null;
  void registry?.start().catch((error: unknown) => {
    internalErrors.inc();
    logger.error({ err: error }, 'registry sync failed to start');
  });
  // After the listeners: a probe that an upstream sends back must find us listening.
  void recursion?.loopDetector?.start().catch((error: unknown) => logger.warn({ err: error }, 'loop probe failed'));
  logger.info({ upstreams: recursion?.upstreams.map(upstreamName) ?? [], policy: config.upstreams.policy, cache: config.cache.maxEntries }, 'recursion');
  logger.info({ listeners: listeners.map((listener) => listener.description), http: operations?.address ?? 'off', zone: config.zone.name, registry: config.registry.url || 'none', config: config.source }, 'mesh-dns started');

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all(listeners.map((listener) => listener.close(config.shutdown.grace)));
      await registry?.stop();
      recursion?.close();
      await operations?.close();
    })();
    return stopping;
  };
  const shutdown = createShutdownSequence({
    lameDuckMs: config.shutdown.lameDuck,
    stop,
    onPhase: (phase) => {
      if (phase === 'lame_duck') logger.info({ lameDuckMs: config.shutdown.lameDuck }, 'lame duck: still answering every query, /ready is 503');
      else if (phase === 'draining') logger.info({ graceMs: config.shutdown.grace }, 'draining: no new queries, finishing those in flight');
    },
  });
  return {
    listeners,
    operations,
    zone,
    registry,
    metricsRegistry,
    handler,
    requestsSoFar: queryMetrics.requestsSoFar,
    reload(next) {
      zone.setStatic(zoneSettings(next.config), next.staticRecords);
      logger.info({ zone: next.config.zone.name, records: next.staticRecords.length, serial: zone.current().serial }, 'config reloaded (zone settings and static records; listener changes need a restart)');
      // Everything outside zone.* is built once at start: say which edits are waiting for a
      // restart instead of letting the operator believe they are in force.
      const waiting = settingsNeedingRestart(config, next.config);
      if (waiting.length > 0) logger.warn({ keys: waiting }, 'changed settings that take effect only after a restart');
    },
    stop,
    shutdown,
  };
}

/** Every listen address was IPv6 that this host does not have: nothing to serve on. */
export class NoListenerError extends Error {
  override name = 'NoListenerError';
}

/**
 * Binds UDP and TCP on every address. A port in use, or no permission, fails start. IPv6 that
 * the host does not have (no ::1 in a container, IPv6 disabled) is a warning: IPv4 serves alone.
 */
/** What every listener shares: the query handler, its metrics, the access decision at accept. */
interface ListenerWiring {
  handler: QueryHandler;
  metrics: ListenerMetrics;
  admitsClient: (address: string) => boolean;
}

async function startListeners(config: MeshDnsConfig, wiring: ListenerWiring, logger: Logger): Promise<DnsListener[]> {
  const started: DnsListener[] = [];
  try {
    for (const address of config.listen.dns) {
      const pair = await bindPair(address, wiring, logger, config);
      if (pair) started.push(...pair);
    }
  } catch (error) {
    await Promise.all(started.map((listener) => listener.close(0)));
    throw error;
  }
  if (started.length === 0) throw new NoListenerError(`no DNS listener could be started on ${config.listen.dns.map(formatListenAddress).join(', ')}`);
  return started;
}

async function bindPair(address: ListenAddress, wiring: ListenerWiring, logger: Logger, config: MeshDnsConfig): Promise<DnsListener[] | null> {
  const { handler, metrics } = wiring;
  let udp: DnsListener | undefined;
  try {
    udp = await startUdpListener(address, handler, logger, { receiveBufferBytes: config.limits.udpReceiveBuffer, metrics });
    // Port 0 (tests): TCP takes the port the kernel gave UDP, so both serve one address.
    const tcp = await startTcpListener({ ...address, port: udp.port }, handler, logger, {
      maxConnections: config.limits.tcpMaxConnections,
      maxConnectionsPerSource: config.limits.tcpMaxConnectionsPerSource,
      maxInFlightPerConnection: config.limits.tcpMaxInFlight,
      idleTimeoutMs: config.limits.tcpIdleTimeout,
      messageTimeoutMs: config.limits.tcpMessageTimeout,
      maxQueuedOutputBytes: 1 << 20,
      admitsClient: wiring.admitsClient,
      metrics,
    });
    return [udp, tcp];
  } catch (error) {
    await udp?.close(0);
    if (error instanceof ListenError && error.ipv6Unavailable) {
      logger.warn({ address: formatListenAddress(address), code: error.code }, 'IPv6 is not available here; serving IPv4 only');
      return null;
    }
    throw error;
  }
}

/**
 * Ready to answer mesh names: the registry (or its snapshot) gave a projection and the served zone
 * holds it. The zone may still be building it in slices after the sync is ready (holder.ts).
 */
function zoneReady(zone: ZoneHolder, registry: RegistrySync): boolean {
  return registry.state().ready && zone.servesProjection();
}

function readiness(zone: ZoneHolder, registry: RegistrySync | null, listeners: readonly DnsListener[], recursion: Recursion | null, phase: ShutdownPhase) {
  const zones = zone.current();
  const registryState = registry?.state() ?? null;
  // Shutting down: not ready whatever the zone says, so no new client is sent here (the lame duck
  // still answers those that come); /health stays 200, the process is not broken.
  const stopping = phase !== 'serving';
  return {
    ready: !stopping && (registry === null || zoneReady(zone, registry)),
    detail: {
      ...(stopping ? { shutdown: { phase, detail: phase === 'lame_duck' ? 'shutting down: still answering queries until the lame duck ends' : 'shutting down: finishing queries in flight' } } : {}),
      registry: registryState ?? { configured: false },
      zone: { serial: zones.serial, ...zones.stats, ...(zone.buildingInSlices() ? { building: zone.servesProjection() ? 'a rebuild beside the served zone' : 'the first projection, not served yet' } : {}) },
      listeners: listeners.map((listener) => listener.description),
      upstreams: recursion?.forwarder.state() ?? [],
      cache: recursion?.cache?.stats() ?? null,
    },
  };
}
