// Builds the recursion side from the config: which upstreams, the forwarder, the cache, the loop
// detector, and the two pipeline stages. Refuses at start an upstream that is exactly one of our
// listen addresses; every other loop is for the loop probe to find (see loop.ts).

import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Counter, type Registry } from '../metrics/prom-client.ts';
import { AnswerCache } from '../cache/answer-cache.ts';
import { createCacheMetrics } from '../cache/metrics.ts';
import { ConfigError } from '../config/load.ts';
import type { MeshDnsConfig } from '../config/options.ts';
import { formatListenAddress } from '../listeners/address.ts';
import type { RecursionStages } from '../pipeline/pipeline.ts';
import { createCacheStage } from '../pipeline/stages/cache.ts';
import { createForwardStage } from '../pipeline/stages/forward.ts';
import { createForwarder, type Forwarder } from './forwarder.ts';
import { createLoopDetector, selfListener, type LoopDetector } from './loop.ts';
import { createForwardMetrics } from './metrics.ts';
import { parseResolvConf } from './resolv-conf.ts';
import { setUpRuntimeResolver, type RuntimeResolver } from './runtime-resolver.ts';
import { timingContractVerdicts } from './timing-contract.ts';
import { upstreamName, type UpstreamAddress } from './types.ts';

export interface Recursion {
  stages: RecursionStages;
  forwarder: Forwarder;
  loopDetector: LoopDetector | null;
  upstreams: readonly UpstreamAddress[];
  cache: AnswerCache | null;
  /** Single-label names not in the mesh go here (Docker's 127.0.0.11, podman's gateway), or null. */
  runtimeResolver: RuntimeResolver | null;
  close(): void;
}

/** Something start-up logs about the upstream choice, and `--check` prints: one source for both. */
export interface UpstreamVerdict {
  level: 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

export interface UpstreamChoice {
  upstreams: UpstreamAddress[];
  /** Where they came from: the config file, "environment variable MESH_DNS_UPSTREAMS", or a resolv.conf path (and the variable that named it). */
  from: string;
  verdicts: UpstreamVerdict[];
}

/** Where the value of a config key came from (file path, "environment variable X" or "default"). */
export type SourceOf = (key: string) => string;

function refuseSelf(servers: readonly UpstreamAddress[], listeners: MeshDnsConfig['listen']['dns'], source: string, key: string): void {
  const looping = servers.flatMap((upstream) => {
    const listener = selfListener(upstream, listeners);
    return listener ? [`${upstreamName(upstream)} is mesh-dns itself (listen.dns ${formatListenAddress(listener)})`] : [];
  });
  if (looping.length > 0) throw new ConfigError(source, key, `${looping.join(', ')}: forwarding there would loop`);
}

/**
 * The upstreams to use: configured ones, else resolv.conf's. A configured upstream that is one of
 * our listen addresses is a config error (ConfigError, naming where the value came from); such a
 * resolv.conf nameserver is left out with an error verdict, as a container's resolv.conf may name
 * us on purpose for its other processes.
 */
export function chooseUpstreams(config: MeshDnsConfig, sourceOf: SourceOf, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): UpstreamChoice {
  refuseSelf(config.upstreams.domains.flatMap((entry) => entry.servers), config.listen.dns, sourceOf('upstreams.domains'), 'upstreams.domains');
  if (config.upstreams.servers.length > 0) {
    const from = sourceOf('upstreams.servers');
    refuseSelf(config.upstreams.servers, config.listen.dns, from, 'upstreams.servers');
    return { upstreams: config.upstreams.servers, from, verdicts: [] };
  }
  const path = config.upstreams.resolvConf;
  const pathSource = sourceOf('upstreams.resolvConf');
  if (path === '') return { upstreams: [], from: pathSource, verdicts: [] };
  // A path set in the environment is named with its variable: the file alone does not say why it was read.
  const from = pathSource.startsWith('environment variable') ? `${path}, named by ${pathSource}` : path;
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    const verdict: UpstreamVerdict = { level: 'warn', message: 'cannot read resolv.conf: no upstreams, names outside the mesh will be REFUSED', fields: { path, code: (error as NodeJS.ErrnoException).code } };
    return { upstreams: [], from, verdicts: [verdict] };
  }
  const { nameservers, invalid } = parseResolvConf(text);
  const verdicts: UpstreamVerdict[] = invalid.map((value) => ({ level: 'warn', message: 'resolv.conf nameserver is not an IP address; not using it', fields: { path, value } }));
  const usable = nameservers.filter((upstream) => {
    const listener = selfListener(upstream, config.listen.dns);
    if (!listener) return true;
    verdicts.push({ level: 'error', message: 'resolv.conf names mesh-dns itself as a nameserver; not using it', fields: { upstream: upstreamName(upstream), listen: formatListenAddress(listener), path } });
    return false;
  });
  if (usable.length === 0) verdicts.push({ level: 'warn', message: 'no usable nameserver in resolv.conf: names outside the mesh will be REFUSED', fields: { path } });
  return { upstreams: usable, from, verdicts };
}

/** Settings that break the timing contract with the clients (timing-contract.ts): start-up and --check warn. */
export function timingVerdicts(config: MeshDnsConfig): UpstreamVerdict[] {
  return timingContractVerdicts({
    clientBudgetMs: config.upstreams.clientBudget,
    deadlineMs: config.upstreams.deadline,
    tryTimeoutMs: config.upstreams.tryTimeout,
    maxTries: config.upstreams.maxTries,
    serveStale: config.cache.serveStale && config.cache.maxEntries > 0,
    staleAnswerTimeoutMs: config.cache.staleAnswerTimeout,
  });
}

export function setUpRecursion(config: MeshDnsConfig, register: Registry, logger: Logger, sourceOf: SourceOf): Recursion | null {
  const { upstreams, verdicts } = chooseUpstreams(config, sourceOf);
  for (const verdict of verdicts) logger[verdict.level](verdict.fields, verdict.message);
  const domainUpstreams = new Map(config.upstreams.domains.map((entry) => [entry.domain, entry.servers]));
  if (upstreams.length === 0 && domainUpstreams.size === 0) return null;
  for (const verdict of timingVerdicts(config)) logger[verdict.level](verdict.fields, verdict.message);
  const forwardLogger = logger.child({ component: 'forward' });
  const forwardMetrics = createForwardMetrics(register);
  const forwarder = createForwarder({
    upstreams,
    domainUpstreams,
    policy: config.upstreams.policy,
    tryTimeoutMs: config.upstreams.tryTimeout,
    deadlineMs: config.upstreams.deadline,
    maxTries: config.upstreams.maxTries,
    forceTcp: config.upstreams.forceTcp,
    maxOutstanding: config.upstreams.maxOutstanding,
    udpPayloadSize: config.limits.udpPayloadSize,
    maxFails: config.upstreams.maxFails,
    healthCheckIntervalMs: config.upstreams.healthCheckInterval,
    logger: forwardLogger,
    metrics: forwardMetrics,
  });
  const runtimeResolver = setUpRuntimeResolver(config, forwardMetrics, logger);
  const loops = new Counter({ name: 'meshdns_forward_loops_detected_total', help: 'Upstreams found forwarding our own loop probe back to us.', registers: [register] });
  const allUpstreams = [...upstreams, ...[...domainUpstreams.values()].flat()];
  const loopDetector = config.upstreams.loopDetect
    ? createLoopDetector({
        upstreams: allUpstreams,
        // Again every minute, not only at start: in A → B → A, the instance started first sees
        // the loop only once the other one is up (CoreDNS's loop plugin probes for 30 s only).
        intervalMs: 60_000,
        udpPayloadSize: config.limits.udpPayloadSize,
        onLoop: (upstream) => {
          loops.inc();
          forwarder.markLooping(upstreamName(upstream));
          forwardLogger.error({ upstream: upstreamName(upstream) }, 'FORWARDING LOOP: this upstream sends our queries back to mesh-dns; it is taken out of rotation. Fix its configuration or mesh-dns upstreams.');
        },
      })
    : null;
  const cache = config.cache.maxEntries > 0
    ? new AnswerCache({
        maxEntries: config.cache.maxEntries,
        maxBytes: config.cache.maxBytes,
        minTtl: config.cache.minTtl,
        maxTtl: config.cache.maxTtl,
        negativeMaxTtl: config.cache.negativeMaxTtl,
        servfailTtl: config.cache.servfailTtl,
        failureRecheck: config.cache.failureRecheck,
        prefetch: config.cache.prefetch,
        serveStale: config.cache.serveStale,
        staleMaxAge: Math.round(config.cache.staleMaxAge / 1000),
      }, createCacheMetrics(register))
    : null;
  const stages: RecursionStages = {
    cache: cache ? createCacheStage({ cache, staleAnswerTimeoutMs: config.cache.staleAnswerTimeout, now: Date.now, logger: forwardLogger }) : null,
    forward: createForwardStage({ forwarder, loopDetector }),
    runtime: runtimeResolver?.stage ?? null,
  };
  return {
    stages,
    forwarder,
    loopDetector,
    upstreams: allUpstreams,
    cache,
    runtimeResolver,
    close() {
      loopDetector?.close();
      forwarder.close();
      runtimeResolver?.forwarder.close();
    },
  };
}
