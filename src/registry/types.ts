// Plain data shapes shared by the registry sync and the zone compiler.
// Everything here is JSON-serialisable: the same AgentProjection is persisted in the snapshot file.
import type { EndpointProbeState } from './endpoint-probe.ts';

/** Why a healthy agent is left out of the zone. Bounded: these values are metric label values. */
export type SkipReason =
  | 'stdio' // `stdio://<id>`: the agent registered without host or port (no network endpoint)
  | 'unspecified_address' // 0.0.0.0 or ::, accepted verbatim by the registry (reference §9 pitfall 1)
  | 'loopback' // 127.0.0.0/8, ::1, localhost, *.localhost: only meaningful on the agent's own host
  | 'invalid_port' // outside 1..65535 (the registry stores 70000 as given)
  | 'unparsable_endpoint' // junk host (`not a host/../x`), unknown scheme, no port
  | 'unresolvable_hostname' // hostname endpoint whose system lookup failed and no earlier answer exists
  | 'oversized'; // a kept field over its bound (1 KiB string, 256 capabilities, 64 tags): agents-body.ts

export const SKIP_REASONS: readonly SkipReason[] = [
  'stdio',
  'unspecified_address',
  'loopback',
  'invalid_port',
  'unparsable_endpoint',
  'unresolvable_hostname',
  'oversized',
];

export type EndpointScheme = 'http' | 'https';
export type HostKind = 'ipv4' | 'ipv6' | 'hostname';

export interface CapabilityProjection {
  name: string;
  version: string;
  /** Sorted, so a re-ordering by the registry is not a change. */
  tags: string[];
}

/**
 * The part of a registry `AgentInfo` that DNS answers depend on. `last_seen`, `created_at` and the
 * response `timestamp` are deliberately absent: they move on every heartbeat (reference §6), and
 * the projection is what the sync diffs to decide whether the zone changed.
 */
export interface AgentProjection {
  id: string;
  name: string;
  /** Always 'healthy' today (only healthy agents are projected); kept so the zone can say so in TXT. */
  status: string;
  scheme: EndpointScheme;
  /** Normalised: IPv6 compressed without brackets, hostnames lower-case without a trailing dot. */
  host: string;
  hostKind: HostKind;
  port: number;
  /** Sorted by name, then version. `capabilities: null` (api agents, bare POSTs) → []. */
  capabilities: CapabilityProjection[];
  /** '' when the agent sent none (the registry does not apply the spec's "1.0.0" default). */
  version: string;
  runtime: string;
  agentType: string;
  /**
   * Addresses to publish: the literal for ipv4/ipv6 hosts; for hostnames, what the system resolver
   * answered (sorted, loopback and unspecified removed), or [] when hostname resolution is off.
   */
  addresses: string[];
  /**
   * The registry namespace, known only when views are configured: the registry does not return it
   * in GET /agents, so it is the `?namespace=` the agent was listed under. Absent otherwise.
   */
  namespace?: string;
}

export interface SkippedAgent {
  id: string;
  reason: SkipReason;
  /** The raw endpoint string, so the one-time warning says what the agent actually advertised. */
  endpoint: string;
}

export type SnapshotSource = 'snapshot' | 'registry';

/** What the sync hands to the zone builder through onChange. */
export interface RegistrySnapshot {
  source: SnapshotSource;
  /** Healthy, routable agents sorted by id. */
  agents: readonly AgentProjection[];
  /** Epoch ms: when the poll that produced it finished, or when the snapshot file was saved. */
  updatedAt: number;
  registryUrl: string;
  /**
   * When this projection kept the previous one's members (same ids in order, same namespaces, each
   * still with or without addresses): the agents that differ, so the zone looks at only those.
   */
  changed?: readonly AgentProjection[];
}

/** The JSON shape of the snapshot file (version it before changing it). */
export interface StoredSnapshot {
  version: 1;
  savedAt: string;
  registryUrl: string;
  agents: AgentProjection[];
}

export interface RegistrySyncState {
  /** True once a poll succeeded or a snapshot was loaded; stays true while the registry is down. */
  ready: boolean;
  source: 'none' | SnapshotSource;
  lastSuccessAt: number | null;
  lastError: string | null;
  consecutiveFailures: number;
  /**
   * Bounded code of the last failure (a RegistryError code such as TOO_DEEP, BODY_TOO_LARGE,
   * REGISTRY_TIMEOUT; 'internal' for a mesh-dns bug), null while polls succeed.
   */
  lastErrorCode: string | null;
  /** Agents in the projection currently served. */
  agents: number;
  /** registry.probeEndpoints: agents whose endpoint did not accept a TCP connect. */
  endpointProbe: EndpointProbeState | { enabled: false };
  snapshot: SnapshotState | null;
}

export interface SnapshotState {
  path: string;
  /** The last write failed (and is retried after the next successful poll, at most once per interval). */
  writeFailing: boolean;
  /** Epoch ms of the last successful write by this process; null before the first. */
  savedAt: number | null;
  /** A served projection not yet in the file (held back by registry.snapshotInterval, or failing). */
  unsaved: boolean;
  /** Why, with the directory's owner when it is a permission problem (bind mounts). */
  writeError: string | null;
  /** Epoch ms of the first failure of the current episode. */
  failingSince: number | null;
  /** Stored agents skipped at load (bad address, bad host, malformed…). */
  skippedAtLoad: number;
}

/**
 * Failure classes of one poll; bounded so they can be metric labels. 'internal' is a bug in
 * mesh-dns itself (an exception that is not a RegistryError), never a registry fault.
 */
export type PollFailureReason = 'http' | 'timeout' | 'connect' | 'format' | 'internal';

export type PollOutcome =
  | { result: 'changed' | 'unchanged'; agents: number; skipped: number }
  | { result: 'failed'; reason: PollFailureReason; error: string }
  | { result: 'stopped' };

/** System-resolver answer, the shape of `dns.promises.lookup(host, { all: true })`. */
export interface LookupAddress {
  address: string;
  family: number;
}

export type HostnameLookup = (hostname: string) => Promise<LookupAddress[]>;
