// Every config option in one table: YAML key, environment variable, default, parser, meaning.
// load.ts reads it to parse and validate; the README's config table is written from it.

import type { ListenAddress } from '../listeners/address.ts';
import { isLocalResolverAddress } from '../forward/runtime-resolver.ts';
import { PRIVATE_NETWORKS } from '../pipeline/stages/access-control.ts';
import { parseViews, type UnmatchedViewPolicy, type ViewSpec } from './views.ts';
import {
  ConfigValueError, listOf, parseBoolean, parseCidr, parseDomainName, parseDurationMs, parseEnum, parseHttpListen, parseHttpUrl,
  parseDomainUpstream, parseInteger, parseIpHost, parseListen, parseString, parseTtlSeconds, parseUpstream,
  type DomainUpstream,
} from './values.ts';

export interface OptionSpec {
  key: string;
  env: string;
  default: unknown;
  parse: (value: unknown) => unknown;
  doc: string;
}

/**
 * TCP timeouts: a duration of at least 50 ms. Zero is not "off": it would cut every connection
 * at once (and with Node's socket timer, which took 0 as "never", it left idle ones open forever).
 */
function parseTcpTimeout(value: unknown): number {
  const ms = parseDurationMs(value);
  if (ms < 50) throw new ConfigValueError(`${JSON.stringify(value)} is too short (at least 50ms)`);
  return ms;
}

export const OPTIONS = [
  { key: 'listen.dns', env: 'MESH_DNS_LISTEN', default: ['127.0.0.1:1053', '[::1]:1053'], parse: listOf(parseListen),
    doc: 'DNS listeners (UDP and TCP on each), `host:port` or `[v6]:port`. IPv4 and IPv6 are separate sockets.' },
  { key: 'listen.bindHost', env: 'MCP_MESH_BIND_HOST', default: '', parse: parseIpHost,
    doc: 'When set, replaces the host of every `listen.dns` entry (ports kept). Ignored when `MESH_DNS_LISTEN` is set.' },
  { key: 'listen.http', env: 'MESH_DNS_HTTP_LISTEN', default: '127.0.0.1:9153', parse: parseHttpListen,
    doc: 'Address of `/metrics`, `/health` and `/ready`; `off` disables it.' },
  { key: 'http.readyDetail', env: 'MESH_DNS_READY_DETAIL', default: 'auto', parse: parseEnum(['auto', 'always', 'never'] as const),
    doc: 'Who gets the JSON detail of `/ready` (upstream addresses, the registry\'s last error): `auto` only clients on loopback (a container\'s own HEALTHCHECK, `kubectl exec`), `always` everyone, `never` nobody. The status code (200/503) is the same for all.' },
  { key: 'zone.name', env: 'MESH_DNS_ZONE', default: 'mesh.local', parse: parseDomainName,
    doc: 'The mesh zone mesh-dns is authoritative for.' },
  { key: 'zone.ttl', env: 'MCP_MESH_DNS_CACHE_TTL', default: '5s', parse: parseTtlSeconds,
    doc: 'TTL of mesh answers (`30s`, `5m`, or seconds). Short, because the registry itself lags 20–30 s behind an agent\'s death.' },
  { key: 'zone.negativeTtl', env: 'MESH_DNS_NEGATIVE_TTL', default: '5s', parse: parseTtlSeconds,
    doc: 'SOA MINIMUM: how long NXDOMAIN/NODATA for mesh names may be cached (RFC 2308).' },
  { key: 'zone.reverseZones', env: 'MESH_DNS_REVERSE_ZONES', default: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'], parse: listOf(parseCidr),
    doc: 'Networks whose reverse zones mesh-dns answers (PTR for agent and static addresses, NXDOMAIN for the rest).' },
  { key: 'zone.records', env: 'MESH_DNS_RECORDS', default: [], parse: listOf(parseStaticRecordSpec),
    doc: 'Static records merged into the zone: `{name, type, value, ttl?}` with type A, AAAA, CNAME, SRV (`"prio weight port target"`) or TXT. Env form: `name type value` items, comma-separated.' },
  { key: 'registry.url', env: 'MCP_MESH_REGISTRY_URL', default: '', parse: parseHttpUrl,
    doc: 'MCP Mesh registry base URL. Empty: no registry, static records only.' },
  { key: 'registry.pollInterval', env: 'MESH_DNS_REGISTRY_POLL_INTERVAL', default: '2s', parse: parseDurationMs,
    doc: 'How often `GET /agents` is polled.' },
  { key: 'registry.timeout', env: 'MCP_MESH_NETWORK_TIMEOUT', default: '5s', parse: parseDurationMs,
    doc: 'Timeout of one registry request.' },
  { key: 'registry.eventsHintInterval', env: 'MESH_DNS_REGISTRY_EVENTS_HINT_INTERVAL', default: '500ms', parse: parseDurationMs,
    doc: 'How often `GET /events?limit=1` is checked to poll `/agents` sooner; `0` disables.' },
  { key: 'registry.snapshotPath', env: 'MESH_DNS_SNAPSHOT_PATH', default: '.mesh-dns/registry-snapshot.json', parse: parseString,
    doc: 'File keeping the last good registry state, loaded at start; empty disables.' },
  { key: 'registry.snapshotInterval', env: 'MESH_DNS_SNAPSHOT_INTERVAL', default: '30s', parse: parseDurationMs,
    doc: 'Least time between two writes of the snapshot file: changes in between are written together once it has passed, and at shutdown. `0` writes after every change (10,000 agents: a 7.5 MB file, fsynced).' },
  { key: 'registry.resolveHostnames', env: 'MESH_DNS_RESOLVE_HOSTNAMES', default: true, parse: parseBoolean,
    doc: 'Resolve agents that advertise a hostname through the system resolver on each sync.' },
  { key: 'registry.maxBodyBytes', env: 'MESH_DNS_REGISTRY_MAX_BODY_BYTES', default: 67108864, parse: parseInteger(65536, 1073741824),
    doc: 'Largest `GET /agents` body read (10,000 agents ≈ 7.5 MB); a larger one is refused and the last good zone kept.' },
  { key: 'registry.maxAgents', env: 'MESH_DNS_REGISTRY_MAX_AGENTS', default: 50000, parse: parseInteger(1, 1000000),
    doc: 'Most entries of `GET /agents` (healthy or not) accepted; more is refused as not a registry answer and the last good zone kept.' },
  { key: 'registry.probeEndpoints', env: 'MESH_DNS_PROBE_ENDPOINTS', default: false, parse: parseBoolean,
    doc: 'TCP-connect to each agent\'s advertised address and port when it appears or changes (16 at a time); one that does not accept is logged once, counted (`meshdns_registry_unreachable_endpoints`) and listed in `/ready`. Its records are still served.' },
  { key: 'registry.probeTimeout', env: 'MESH_DNS_PROBE_TIMEOUT', default: '1s', parse: parseTcpTimeout,
    doc: 'Timeout of one endpoint probe connect (at least 50ms).' },
  { key: 'access.recursionNetworks', env: 'MESH_DNS_RECURSION_NETWORKS', default: PRIVATE_NETWORKS, parse: listOf(parseCidr),
    doc: 'Clients (CIDRs) whose names outside our zones are forwarded. Others get REFUSED: not an open resolver.' },
  { key: 'access.meshNetworks', env: 'MESH_DNS_MESH_NETWORKS', default: PRIVATE_NETWORKS, parse: listOf(parseCidr),
    doc: 'Clients (CIDRs) that get answers from the mesh and reverse zones. Others get REFUSED.' },
  { key: 'views.list', env: 'MESH_DNS_VIEWS', default: [], parse: parseViews,
    doc: 'Views by client network: `{name, networks: [CIDR…], namespaces: [ns…], home: ns}` (env: the list as JSON). A view sees `<agent>.<namespace>.<zone>` for its namespaces and `<agent>.<zone>` for its home namespace; each namespace is polled with `GET /agents?namespace=`. Empty: no views, every client sees every agent as `<agent>.<zone>`.' },
  { key: 'views.unmatched', env: 'MESH_DNS_VIEWS_UNMATCHED', default: 'refused', parse: parseEnum(['refused', 'nxdomain'] as const),
    doc: 'With views: what a client in no view gets for mesh names, `refused` (EDE 18) or `nxdomain` (static records still answer).' },
  { key: 'rateLimit.enabled', env: 'MESH_DNS_RATE_LIMIT', default: true, parse: parseBoolean,
    doc: 'Token bucket per client prefix, on the socket address. Over it, UDP queries are dropped (every `slip`-th answered TC=1 so real clients retry over TCP) and TCP queries REFUSED.' },
  { key: 'rateLimit.queriesPerSecond', env: 'MESH_DNS_RATE_LIMIT_QPS', default: 1000, parse: parseInteger(1, 10_000_000),
    doc: 'Queries per second each client prefix may send, sustained (UDP and TCP counted apart). Generous: an agent resolving with `ndots:5` sends ~10 queries per name.' },
  { key: 'rateLimit.burst', env: 'MESH_DNS_RATE_LIMIT_BURST', default: 2000, parse: parseInteger(1, 10_000_000),
    doc: 'Queries a client prefix may send at once (the bucket size).' },
  { key: 'rateLimit.ipv4Prefix', env: 'MESH_DNS_RATE_LIMIT_IPV4_PREFIX', default: 32, parse: parseInteger(8, 32),
    doc: 'IPv4 clients sharing a bucket: the prefix length (32: one bucket per address).' },
  { key: 'rateLimit.ipv6Prefix', env: 'MESH_DNS_RATE_LIMIT_IPV6_PREFIX', default: 56, parse: parseInteger(16, 128),
    doc: 'IPv6 clients sharing a bucket: the prefix length (56: one per typical customer/site allocation).' },
  { key: 'rateLimit.slip', env: 'MESH_DNS_RATE_LIMIT_SLIP', default: 2, parse: parseInteger(0, 100),
    doc: 'Every N-th UDP query over the limit is answered with an empty TC=1 response instead of dropped (BIND RRL `slip`); 0 drops all.' },
  { key: 'rateLimit.allowNetworks', env: 'MESH_DNS_RATE_LIMIT_ALLOW', default: ['127.0.0.0/8', '::1/128'], parse: listOf(parseCidr),
    doc: 'Clients (CIDRs) never rate-limited. Loopback by default: the pod\'s or host\'s own processes, and a source no remote packet can carry (the kernel drops martians), so no one can spoof it to exhaust a bucket.' },
  { key: 'rateLimit.maxClients', env: 'MESH_DNS_RATE_LIMIT_MAX_CLIENTS', default: 65536, parse: parseInteger(16, 10_000_000),
    doc: 'Client prefixes tracked at most (~150 bytes each); when full the least recently used is forgotten, which only gives it a full bucket back.' },
  { key: 'names.domainNeeded', env: 'MESH_DNS_DOMAIN_NEEDED', default: true, parse: parseBoolean,
    doc: 'Answer single-label names NXDOMAIN locally instead of forwarding them (dnsmasq `domain-needed`).' },
  { key: 'names.bogusPriv', env: 'MESH_DNS_BOGUS_PRIV', default: true, parse: parseBoolean,
    doc: 'Answer reverse lookups in private/special ranges outside `zone.reverseZones` NXDOMAIN locally (dnsmasq `bogus-priv`, RFC 6303).' },
  { key: 'names.runtimeResolver', env: 'MESH_DNS_RUNTIME_RESOLVER', default: 'auto', parse: parseRuntimeResolver,
    doc: 'Where single-label names that are not mesh names are asked (compose service names such as `registry`): `auto` (Docker\'s `127.0.0.11`, or podman\'s network gateway, found in `upstreams.resolvConf`), `none`, or loopback/private addresses. Never a public upstream.' },
  { key: 'names.autopath', env: 'MESH_DNS_AUTOPATH', default: false, parse: parseBoolean,
    doc: 'For a search-expanded name (`api.example.com.mesh.local`: more labels than any mesh name), answer a CNAME to the bare name plus its resolution, as CoreDNS `autopath` (README "Short names, ndots and autopath"). Off: NXDOMAIN.' },
  { key: 'upstreams.servers', env: 'MESH_DNS_UPSTREAMS', default: [], parse: listOf(parseUpstream),
    doc: 'Upstream resolvers: `ip`, `ip:port` or `[v6]:port`. Empty: the nameservers of `upstreams.resolvConf`.' },
  { key: 'upstreams.resolvConf', env: 'MESH_DNS_RESOLV_CONF', default: '/etc/resolv.conf', parse: parseString,
    doc: 'Where upstreams come from when `upstreams.servers` is empty; empty string: none (mesh and local names only).' },
  { key: 'upstreams.domains', env: 'MESH_DNS_DOMAIN_UPSTREAMS', default: [], parse: listOf(parseDomainUpstream),
    doc: 'Per-domain upstreams in dnsmasq form `/corp.example/10.0.0.2` (several servers: `/corp.example/10.0.0.2 10.0.0.3`); longest suffix wins.' },
  { key: 'upstreams.policy', env: 'MESH_DNS_UPSTREAM_POLICY', default: 'fastest', parse: parseEnum(['sequential', 'random', 'fastest'] as const),
    doc: 'Which upstream first: `sequential` (config order, dnsmasq `strict-order`), `random`, `fastest` (lowest latency, failures down-weighted).' },
  { key: 'upstreams.tryTimeout', env: 'MESH_DNS_UPSTREAM_TIMEOUT', default: '800ms', parse: parseDurationMs,
    doc: 'Timeout of one try to one upstream. With `maxTries` 2 it fills the deadline: a lost datagram to a single upstream is re-sent once.' },
  { key: 'upstreams.deadline', env: 'MESH_DNS_UPSTREAM_DEADLINE', default: '1600ms', parse: parseDurationMs,
    doc: 'Whole-query deadline for forwarding: past it the client gets SERVFAIL with an Extended DNS Error, never silence. Must end before the client gives up (see `upstreams.clientBudget` and the timing contract).' },
  { key: 'upstreams.maxTries', env: 'MESH_DNS_UPSTREAM_TRIES', default: 2, parse: parseInteger(1, 10),
    doc: 'Tries per query across upstreams (within the deadline).' },
  { key: 'upstreams.clientBudget', env: 'MESH_DNS_CLIENT_BUDGET', default: '2s', parse: parseDurationMs,
    doc: 'How long clients wait in total: `timeout × attempts` of their resolv.conf (`timeout:1 attempts:2` = 2s). Start-up and `--check` warn when `upstreams.deadline` or `cache.staleAnswerTimeout` do not fit it (timing contract).' },
  { key: 'upstreams.forceTcp', env: 'MESH_DNS_UPSTREAM_FORCE_TCP', default: false, parse: parseBoolean,
    doc: 'Send upstream queries over reused, pipelined TCP connections (NodeLocal DNSCache `force_tcp`: no UDP conntrack races).' },
  { key: 'upstreams.maxOutstanding', env: 'MESH_DNS_UPSTREAM_MAX_OUTSTANDING', default: 1024, parse: parseInteger(1, 65536),
    doc: 'Upstream queries in flight at once; over it, REFUSED with an EDE at once, so the client tries its next server (dnsmasq `dns-forward-max`).' },
  { key: 'upstreams.maxFails', env: 'MESH_DNS_UPSTREAM_MAX_FAILS', default: 2, parse: parseInteger(1, 100),
    doc: 'Consecutive failures that take an upstream out of rotation until its health probe answers.' },
  { key: 'upstreams.healthCheckInterval', env: 'MESH_DNS_UPSTREAM_HEALTH_CHECK_INTERVAL', default: '500ms', parse: parseDurationMs,
    doc: 'How often an upstream out of rotation is probed (`. NS`).' },
  { key: 'upstreams.loopDetect', env: 'MESH_DNS_LOOP_DETECT', default: true, parse: parseBoolean,
    doc: 'Probe each upstream at start for a forwarding loop back to mesh-dns (CoreDNS `loop`, dnsmasq `dns-loop-detect`).' },
  { key: 'cache.maxEntries', env: 'MESH_DNS_CACHE_SIZE', default: 10000, parse: parseInteger(0, 10_000_000),
    doc: 'Cached answers at most (forwarded names); 0 disables the cache. Nothing is allocated for entries not yet stored.' },
  { key: 'cache.maxBytes', env: 'MESH_DNS_CACHE_MAX_BYTES', default: 67108864, parse: parseInteger(65536, 4294967296),
    doc: 'Memory of cached answers at most, bytes: their slab space (record bytes in size-class chunks, free chunks included) plus the measured per-entry overhead, so it bounds the real footprint.' },
  { key: 'cache.minTtl', env: 'MESH_DNS_CACHE_MIN_TTL', default: '0s', parse: parseTtlSeconds,
    doc: 'Keep answers at least this long; past their own TTL they are answered stale (TTL 30, EDE 3) without asking upstream, never fresh with TTL 0. 0 (as unbound and dnsmasq): an answer lives exactly its TTL.' },
  { key: 'cache.maxTtl', env: 'MESH_DNS_CACHE_MAX_TTL', default: '1h', parse: parseTtlSeconds,
    doc: 'Answers are cached at most this long.' },
  { key: 'cache.negativeMaxTtl', env: 'MESH_DNS_CACHE_NEGATIVE_MAX_TTL', default: '30m', parse: parseTtlSeconds,
    doc: 'NXDOMAIN/NODATA are cached for the SOA minimum (RFC 2308), at most this long.' },
  { key: 'cache.servfailTtl', env: 'MESH_DNS_CACHE_SERVFAIL_TTL', default: '5s', parse: parseTtlSeconds,
    doc: 'An upstream failure is remembered this long (answered SERVFAIL with EDE 13 without asking again).' },
  { key: 'cache.prefetch', env: 'MESH_DNS_CACHE_PREFETCH', default: true, parse: parseBoolean,
    doc: 'Refresh popular entries (3+ hits) in the background when under 10% of their lifetime is left.' },
  { key: 'cache.serveStale', env: 'MESH_DNS_SERVE_STALE', default: true, parse: parseBoolean,
    doc: 'When every upstream fails, answer expired entries with TTL 30 and EDE 3 (RFC 8767), refreshing them in the background.' },
  { key: 'cache.staleMaxAge', env: 'MESH_DNS_STALE_MAX_AGE', default: '1d', parse: parseDurationMs,
    doc: 'How long past expiry an entry may still be served stale.' },
  { key: 'cache.failureRecheck', env: 'MESH_DNS_CACHE_FAILURE_RECHECK', default: '30s', parse: parseTtlSeconds,
    doc: 'After a failed refresh of an expired entry, answer it stale without asking upstream again for this long (RFC 8767 failure recheck timer); 0 asks every time.' },
  { key: 'cache.staleAnswerTimeout', env: 'MESH_DNS_STALE_ANSWER_TIMEOUT', default: '800ms', parse: parseDurationMs,
    doc: 'With a stale entry at hand, answer it after this long if the upstreams have not (RFC 8767 client response timer; its 1.8s outlasts a `timeout:1` client\'s first attempt).' },
  { key: 'limits.udpPayloadSize', env: 'MESH_DNS_UDP_PAYLOAD_SIZE', default: 1232, parse: parseInteger(512, 4096),
    doc: 'Our EDNS UDP payload size (DNS Flag Day 2020 value by default).' },
  { key: 'limits.udpReceiveBuffer', env: 'MESH_DNS_UDP_RECEIVE_BUFFER', default: 4194304, parse: parseInteger(65536, 268435456),
    doc: 'Kernel receive buffer of each UDP socket, bytes.' },
  { key: 'limits.tcpMaxConnections', env: 'MESH_DNS_TCP_MAX_CONNECTIONS', default: 256, parse: parseInteger(1, 65535),
    doc: 'Open TCP connections per listener; more are closed at once.' },
  { key: 'limits.tcpMaxConnectionsPerSource', env: 'MESH_DNS_TCP_MAX_CONNECTIONS_PER_SOURCE', default: 16, parse: parseInteger(1, 65535),
    doc: 'Open TCP connections from one client address per listener; more are refused at accept, so one source cannot hold every slot.' },
  { key: 'limits.tcpMaxInFlight', env: 'MESH_DNS_TCP_MAX_IN_FLIGHT', default: 32, parse: parseInteger(1, 1024),
    doc: 'Queries in flight on one TCP connection before reading pauses.' },
  { key: 'limits.tcpIdleTimeout', env: 'MESH_DNS_TCP_IDLE_TIMEOUT', default: '10s', parse: parseTcpTimeout,
    doc: 'TCP connections with no message started for this long are closed (RFC 7766 §6.2.3). At least 50ms.' },
  { key: 'limits.tcpMessageTimeout', env: 'MESH_DNS_TCP_MESSAGE_TIMEOUT', default: '3s', parse: parseTcpTimeout,
    doc: 'A TCP message (length prefix and body) must be complete this long after its first byte, or the connection is cut: a client dripping bytes cannot hold it. At least 50ms.' },
  { key: 'chaos.version', env: 'MESH_DNS_VERSION_BIND', default: '', parse: parseString,
    doc: 'Answer for CHAOS TXT `version.bind`; empty answers REFUSED.' },
  { key: 'log.level', env: 'MESH_DNS_LOG_LEVEL', default: 'info', parse: parseEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    doc: 'pino log level.' },
  { key: 'log.queries', env: 'MESH_DNS_LOG_QUERIES', default: false, parse: parseBoolean,
    doc: 'Log every query (client, name, type, answer kind, rcode).' },
  { key: 'shutdown.lameDuck', env: 'MESH_DNS_SHUTDOWN_LAME_DUCK', default: '2s', parse: parseDurationMs,
    doc: 'On SIGTERM/SIGINT, how long mesh-dns keeps answering new queries (UDP and TCP) while `/ready` is 503, so load balancers and clients move away before the sockets close. `0` stops at once. With `shutdown.grace` it must fit the supervisor\'s stop timeout (Docker: 10 s).' },
  { key: 'shutdown.grace', env: 'MESH_DNS_SHUTDOWN_GRACE', default: '5s', parse: parseDurationMs,
    doc: 'After the lame duck, how long queries still in flight may take before the sockets close (new ones are no longer read).' },
] as const satisfies readonly OptionSpec[];

/** `auto`, `none`, or the runtime resolver's addresses (loopback or private only). */
export type RuntimeResolverSetting = 'auto' | 'none' | ListenAddress[];

function parseRuntimeResolver(value: unknown): RuntimeResolverSetting {
  if (value === 'auto' || value === 'none') return value;
  const servers = listOf(parseUpstream)(value);
  if (servers.length === 0) throw new ConfigValueError('empty: use auto, none, or addresses');
  const outside = servers.filter((server) => !isLocalResolverAddress(server.host));
  if (outside.length > 0) {
    throw new ConfigValueError(`${outside.map((server) => server.host).join(', ')} is not a loopback or private address: single-label names never go to a public server`);
  }
  return servers;
}

/** Who sees `/ready`'s detail (see http/server.ts). */
export type ReadyDetailPolicy = 'auto' | 'always' | 'never';

/** A static record as written in config, before names are made absolute. */
export interface StaticRecordSpec {
  name: string;
  type: 'A' | 'AAAA' | 'CNAME' | 'SRV' | 'TXT';
  value: string | string[];
  ttl?: number;
}

const STATIC_TYPES = ['A', 'AAAA', 'CNAME', 'SRV', 'TXT'] as const;

function parseStaticRecordSpec(item: unknown): StaticRecordSpec {
  let spec: unknown = item;
  if (typeof item === 'string') {
    const [name, type, ...rest] = item.trim().split(/\s+/);
    spec = { name, type, value: rest.join(' ') };
  }
  if (typeof spec !== 'object' || spec === null) throw new Error(`${JSON.stringify(item)} is not a record ({name, type, value})`);
  const { name, type, value, ttl, ...extra } = spec as Record<string, unknown>;
  const unknownKeys = Object.keys(extra);
  if (unknownKeys.length > 0) throw new Error(`unknown field ${unknownKeys.join(', ')} (a record has name, type, value, ttl)`);
  if (typeof name !== 'string' || name === '') throw new Error('record needs a name');
  const upperType = typeof type === 'string' ? type.toUpperCase() : type;
  if (!(STATIC_TYPES as readonly unknown[]).includes(upperType)) throw new Error(`record ${name}: type ${JSON.stringify(type)} is not one of ${STATIC_TYPES.join(', ')}`);
  const okValue = typeof value === 'string' || (upperType === 'TXT' && Array.isArray(value) && value.every((part) => typeof part === 'string'));
  if (!okValue) throw new Error(`record ${name}: value must be a string${upperType === 'TXT' ? ' or a list of strings' : ''}`);
  const result: StaticRecordSpec = { name, type: upperType as StaticRecordSpec['type'], value: value as string | string[] };
  if (ttl !== undefined) result.ttl = parseTtlSeconds(ttl);
  return result;
}

export interface MeshDnsConfig {
  /** Where the config came from, for messages. */
  source: string;
  listen: { dns: ListenAddress[]; bindHost: string; http: ListenAddress | null };
  http: { readyDetail: ReadyDetailPolicy };
  zone: { name: string; ttl: number; negativeTtl: number; reverseZones: string[]; records: StaticRecordSpec[] };
  registry: { url: string; pollInterval: number; timeout: number; eventsHintInterval: number; snapshotPath: string; snapshotInterval: number; resolveHostnames: boolean; maxBodyBytes: number; maxAgents: number;
    probeEndpoints: boolean; probeTimeout: number };
  limits: {
    udpPayloadSize: number; udpReceiveBuffer: number; tcpMaxConnections: number; tcpMaxConnectionsPerSource: number;
    tcpMaxInFlight: number; tcpIdleTimeout: number; tcpMessageTimeout: number;
  };
  access: { recursionNetworks: string[]; meshNetworks: string[] };
  names: { domainNeeded: boolean; bogusPriv: boolean; runtimeResolver: RuntimeResolverSetting; autopath: boolean };
  views: { list: ViewSpec[]; unmatched: UnmatchedViewPolicy };
  rateLimit: {
    enabled: boolean; queriesPerSecond: number; burst: number; ipv4Prefix: number; ipv6Prefix: number; slip: number;
    allowNetworks: string[]; maxClients: number;
  };
  upstreams: {
    servers: ListenAddress[]; resolvConf: string; domains: DomainUpstream[]; policy: 'sequential' | 'random' | 'fastest';
    tryTimeout: number; deadline: number; maxTries: number; clientBudget: number; forceTcp: boolean; maxOutstanding: number; maxFails: number;
    healthCheckInterval: number; loopDetect: boolean;
  };
  cache: {
    maxEntries: number; maxBytes: number; minTtl: number; maxTtl: number; negativeMaxTtl: number; servfailTtl: number;
    prefetch: boolean; serveStale: boolean; staleMaxAge: number; failureRecheck: number; staleAnswerTimeout: number;
  };
  chaos: { version: string };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; queries: boolean };
  shutdown: { lameDuck: number; grace: number };
}
