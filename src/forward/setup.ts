// Builds the recursion side from the config: which upstreams, the forwarder, the cache, the loop
// detector, and the two pipeline stages. Refuses at start an upstream that is mesh-dns itself.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { AnswerCache } from '../cache/answer-cache.ts';
import { createCacheMetrics } from '../cache/metrics.ts';
import { ConfigError } from '../config/load.ts';
import type { MeshDnsConfig } from '../config/options.ts';
import type { RecursionStages } from '../pipeline/pipeline.ts';
import { createCacheStage } from '../pipeline/stages/cache.ts';
import { createForwardStage } from '../pipeline/stages/forward.ts';
import { createForwarder, type Forwarder } from './forwarder.ts';
import { createLoopDetector, isSelf, type LoopDetector } from './loop.ts';
import { createForwardMetrics } from './metrics.ts';
import { parseResolvConf } from './resolv-conf.ts';
import { setUpRuntimeResolver, type RuntimeResolver } from './runtime-resolver.ts';
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

function localAddresses(): string[] {
  return Object.values(os.networkInterfaces()).flatMap((entries) => (entries ?? []).map((entry) => entry.address));
}

/** The upstreams to use: configured ones, else resolv.conf's (without any that are ourselves). */
export function chooseUpstreams(config: MeshDnsConfig, logger: Logger, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): UpstreamAddress[] {
  const locals = localAddresses();
  const self = (upstream: UpstreamAddress) => isSelf(upstream, config.listen.dns, locals);
  if (config.upstreams.servers.length > 0) {
    const looping = config.upstreams.servers.filter(self);
    if (looping.length > 0) throw new ConfigError(config.source, 'upstreams.servers', `${looping.map(upstreamName).join(', ')} is mesh-dns itself (one of listen.dns): forwarding there would loop`);
    return config.upstreams.servers;
  }
  if (config.upstreams.resolvConf === '') return [];
  let text: string;
  try {
    text = readFile(config.upstreams.resolvConf);
  } catch (error) {
    logger.warn({ path: config.upstreams.resolvConf, code: (error as NodeJS.ErrnoException).code }, 'cannot read resolv.conf: no upstreams, names outside the mesh will be REFUSED');
    return [];
  }
  const { nameservers } = parseResolvConf(text);
  const usable = nameservers.filter((upstream) => {
    if (!self(upstream)) return true;
    // A container whose resolv.conf names mesh-dns itself: using it would be a loop.
    logger.error({ upstream: upstreamName(upstream), path: config.upstreams.resolvConf }, 'resolv.conf names mesh-dns itself as a nameserver; not using it');
    return false;
  });
  if (usable.length === 0) logger.warn({ path: config.upstreams.resolvConf }, 'no usable nameserver in resolv.conf: names outside the mesh will be REFUSED');
  return usable;
}

export function setUpRecursion(config: MeshDnsConfig, register: Registry, logger: Logger): Recursion | null {
  const upstreams = chooseUpstreams(config, logger);
  const domainUpstreams = new Map(config.upstreams.domains.map((entry) => [entry.domain, entry.servers]));
  if (upstreams.length === 0 && domainUpstreams.size === 0) return null;
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
