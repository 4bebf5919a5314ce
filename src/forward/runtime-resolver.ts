// The container runtime's own resolver, asked for single-label names only (stages/single-label.ts):
// Docker's embedded DNS at 127.0.0.11 and podman's aardvark-dns on each network's gateway answer
// compose service and container names (`registry`, `postgres`) that no other server knows.
//
// Where it is (names.runtimeResolver):
//   auto  — from resolv.conf (pure, detectRuntimeResolvers): Docker writes `nameserver 127.0.0.11`
//           on user-defined networks; podman writes its network gateway(s), i.e. nameservers on a
//           subnet of one of our own interfaces, in a container (/run/.containerenv exists);
//   <ips> — those, which must be loopback or private (options.ts): never a public server;
//   none  — no runtime resolver; single labels not in the mesh get NXDOMAIN.
// It is reached through its own Forwarder (same deadline, tries and metrics as the upstreams;
// `to` label = its address), not through the default upstreams' group.

import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';
import type { MeshDnsConfig } from '../config/options.ts';
import type { PipelineStage } from '../pipeline/types.ts';
import { createForwardStage } from '../pipeline/stages/forward.ts';
import { createForwarder, type Forwarder } from './forwarder.ts';
import type { ForwardMetrics } from './metrics.ts';
import { parseResolvConf } from './resolv-conf.ts';
import { upstreamName, type UpstreamAddress } from './types.ts';

export const DOCKER_EMBEDDED_DNS = '127.0.0.11';
const PODMAN_MARKER = '/run/.containerenv';

export interface LocalInterface {
  /** "10.89.0.5/24" (os.networkInterfaces().cidr). */
  cidr: string;
  internal: boolean;
}

export interface RuntimeDetection {
  runtime: 'docker' | 'podman';
  servers: UpstreamAddress[];
}

/** The runtime resolver named in resolv.conf, or null. Pure: the caller reads the files. */
export function detectRuntimeResolvers(resolvConfText: string, inPodman: boolean, interfaces: readonly LocalInterface[]): RuntimeDetection | null {
  const { nameservers } = parseResolvConf(resolvConfText);
  const docker = nameservers.filter((server) => server.host === DOCKER_EMBEDDED_DNS);
  if (docker.length > 0) return { runtime: 'docker', servers: docker };
  if (!inPodman) return null;
  const subnets = interfaces.filter((entry) => !entry.internal).flatMap((entry) => {
    try {
      return [ipaddr.parseCIDR(entry.cidr)];
    } catch {
      return [];
    }
  });
  const gateways = nameservers.filter((server) => {
    const address = ipaddr.parse(server.host.split('%')[0]!);
    return subnets.some(([network, bits]) => network.kind() === address.kind() && address.match(network, bits));
  });
  return gateways.length > 0 ? { runtime: 'podman', servers: gateways } : null;
}

/** ipaddr ranges a runtime resolver may be in: it lives on this host or its container network. */
export function isLocalResolverAddress(host: string): boolean {
  if (!ipaddr.isValid(host.split('%')[0]!)) return false;
  const range = ipaddr.process(host.split('%')[0]!).range();
  return range === 'loopback' || range === 'private' || range === 'uniqueLocal' || range === 'linkLocal';
}

export interface RuntimeResolver {
  servers: readonly UpstreamAddress[];
  /** The forward stage over these servers, for the single-label stage. */
  stage: PipelineStage;
  forwarder: Forwarder;
}

function systemInterfaces(): LocalInterface[] {
  return Object.values(os.networkInterfaces()).flatMap((entries) => (entries ?? []).flatMap((entry) => (entry.cidr ? [{ cidr: entry.cidr, internal: entry.internal }] : [])));
}

/** The configured or detected runtime resolver, or null (none configured, none found). */
export function setUpRuntimeResolver(config: MeshDnsConfig, metrics: ForwardMetrics, logger: Logger): RuntimeResolver | null {
  const setting = config.names.runtimeResolver;
  if (setting === 'none') return null;
  let servers: UpstreamAddress[];
  if (setting === 'auto') {
    let text = '';
    try {
      text = config.upstreams.resolvConf === '' ? '' : readFileSync(config.upstreams.resolvConf, 'utf8');
    } catch {
      // chooseUpstreams already warned about an unreadable resolv.conf.
    }
    const detected = detectRuntimeResolvers(text, existsSync(PODMAN_MARKER), systemInterfaces());
    if (!detected) return null;
    servers = detected.servers;
    logger.info({ runtime: detected.runtime, servers: servers.map(upstreamName) }, 'container runtime resolver found in resolv.conf: single-label names not in the mesh are asked there');
  } else {
    servers = setting;
    logger.info({ servers: servers.map(upstreamName) }, 'runtime resolver configured: single-label names not in the mesh are asked there');
  }
  // Exactly one of our listeners is a loop. A wildcard listener is not: Docker's 127.0.0.11:53 is
  // NATed to dockerd inside the container's namespace and never reaches a 0.0.0.0:53 socket.
  servers = servers.filter((server) => {
    const self = config.listen.dns.some((listen) => listen.port === server.port && listen.host === server.host);
    if (self) logger.error({ server: upstreamName(server) }, 'the runtime resolver is mesh-dns itself; not using it');
    return !self;
  });
  if (servers.length === 0) return null;
  const forwarder = createForwarder({
    upstreams: servers,
    policy: 'sequential',
    tryTimeoutMs: config.upstreams.tryTimeout,
    deadlineMs: config.upstreams.deadline,
    maxTries: config.upstreams.maxTries,
    maxOutstanding: config.upstreams.maxOutstanding,
    udpPayloadSize: config.limits.udpPayloadSize,
    maxFails: config.upstreams.maxFails,
    healthCheckIntervalMs: config.upstreams.healthCheckInterval,
    logger: logger.child({ component: 'runtime-resolver' }),
    metrics,
  });
  return { servers, forwarder, stage: createForwardStage({ forwarder, loopDetector: null }) };
}
