// The forwarder: one client question in, one typed result out, always within the deadline.
//
// forward(query)
//   1. coalesce   — an identical question already in flight upstream is joined, not re-sent
//                   (key: name, type, class, DO, CD, and RD, which changes what the upstream does)
//   2. cap        — over `maxOutstanding` upstream queries, fail at once (`overloaded`): a bounded
//                   queue instead of an unbounded one (CoreDNS max_concurrent, dnsmasq dns-forward-max)
//   3. group      — the upstreams for the name: the longest configured domain suffix (dnsmasq
//                   server=/domain/ip, label-exact), else the default upstreams
//   4. order      — selection.ts, by policy and health
//   5. tries      — up to `maxTries`, cycling through the order (a single upstream gets retried,
//                   which is what rescues a lost UDP datagram); each try over UDP (TC → the same
//                   upstream over TCP) or over the TCP pool with `forceTcp`. A try that times out
//                   or fails marks the upstream and moves on. So does an answer we cannot use: one
//                   that fails the record walk (indexUpstreamMessage), or one with an extended
//                   RCODE (BADCOOKIE, BADVERS): those are about our hop to the upstream (the OPT is
//                   hop-by-hop, RFC 6891 §6.1.1; we send no cookie, RFC 7873 §5.3) and relaying them
//                   would hand the client an error about a conversation it never had.
//                   A try past `tryTimeoutMs` counts as a timeout (health, metrics) and the next
//                   try starts, but the overdue try keeps listening: the first usable answer from
//                   any try wins (a single upstream that needs 1.2 s is answered within a 1.6 s
//                   deadline of two 800 ms tries; timing-contract.ts). When the last try is
//                   overdue, the forward ends.
//   6. deadline   — every try listens at most until `deadlineMs`, and a timer aborts whatever is
//                   still running at the deadline, so the caller always gets a result.

import type { Logger } from 'pino';
import { PersistentCondition } from '../logging/persistent-condition.ts';
import { parentName } from '../wire/name.ts';
import { indexUpstreamMessage, type IndexedMessage } from '../wire/upstream-message.ts';
import { DEFAULT_UDP_PAYLOAD_SIZE, headerRcode } from './message.ts';
import type { ForwardMetrics, TryFailureReason } from './metrics.ts';
import { selectOrder } from './selection.ts';
import { createTcpPool, type TcpPool, type TcpPoolOptions } from './tcp-pool.ts';
import { forwardFailure, upstreamName, type ForwardFailureReason, type ForwardResult, type SelectionPolicy, type UpstreamAddress, type UpstreamQuery } from './types.ts';
import { exchangeUdp, type ExchangeOutcome } from './udp-exchange.ts';
import { HEALTH_PROBE_QUERY, Upstream, type UpstreamState } from './upstream.ts';

export interface ForwarderOptions {
  upstreams: readonly UpstreamAddress[];
  /** Lowercase domain (no trailing dot) → its upstreams; the longest matching suffix wins. */
  domainUpstreams?: ReadonlyMap<string, readonly UpstreamAddress[]>;
  policy?: SelectionPolicy;
  /** One try's timeout (CoreDNS readTimeout 2 s; ours 800 ms, see FORWARDER_DEFAULTS). */
  tryTimeoutMs?: number;
  /** The whole forward, every try included (CoreDNS defaultTimeout 5 s; ours 1.6 s). */
  deadlineMs?: number;
  /** Tries across upstreams per query. */
  maxTries?: number;
  /** Every query over the TCP pool (NodeLocal DNSCache force_tcp). */
  forceTcp?: boolean;
  /** Upstream queries in flight at once; over it, `overloaded`. */
  maxOutstanding?: number;
  /** Our EDNS buffer size towards upstreams. */
  udpPayloadSize?: number;
  maxFails?: number;
  healthCheckIntervalMs?: number;
  /** Timeout of one health probe (CoreDNS: 1 s). */
  healthCheckTimeoutMs?: number;
  tcp?: Omit<TcpPoolOptions, 'udpPayloadSize'>;
  logger: Logger;
  metrics: ForwardMetrics;
  /** Randomness for the selection policies (tests pass a fixed sequence). */
  random?: () => number;
}

/**
 * Deadline, try timeout and tries fit the client's `timeout:1 attempts:2` (timing-contract.ts):
 * SERVFAIL with an EDE leaves at 1.6 s, before glibc gives up at 2 s; two tries of 800 ms rescue
 * a lost datagram to a single upstream, or try a second upstream. (CoreDNS's 2 s read timeout and
 * 5 s deadline outlast such a client: it would see a timeout, never our SERVFAIL.)
 */
export const FORWARDER_DEFAULTS = Object.freeze({
  policy: 'fastest' as SelectionPolicy,
  tryTimeoutMs: 800,
  deadlineMs: 1_600,
  maxTries: 2,
  forceTcp: false,
  maxOutstanding: 1_024,
  udpPayloadSize: DEFAULT_UDP_PAYLOAD_SIZE,
  maxFails: 2,
  healthCheckIntervalMs: 500,
  healthCheckTimeoutMs: 1_000,
});

export interface Forwarder {
  forward(query: UpstreamQuery): Promise<ForwardResult>;
  /**
   * Takes an upstream ("host:port", as in state()) out of rotation for good: the loop detector
   * saw our probe come back through it. Returns false when no such upstream is configured.
   */
  markLooping(to: string): boolean;
  /** Per upstream: health, failures, latency (for /ready detail). */
  state(): UpstreamState[];
  /** Ends every forward in flight (as `network` failures), probes, and TCP connections. */
  close(): void;
}

interface TryResult {
  outcome: ExchangeOutcome;
  transport: 'udp' | 'tcp';
}

/** One try to one upstream, listening until it settles (at the latest, the deadline). */
interface TryInFlight {
  upstream: Upstream;
  startedAt: number;
  /** Past `tryTimeoutMs`: counted as a timeout, the next try started, still listening. */
  overdue: boolean;
  done: Promise<TryDone>;
}

interface TryDone {
  flight: TryInFlight;
  result: TryResult;
}

/**
 * How often a flapping or lasting "upstream down" is logged again. Measured before: an upstream
 * losing 0.4 % of queries (maxFails 2) logged 219 "marked down"/"up again" pairs in 170 s.
 */
export const UPSTREAM_DOWN_LOG_REPEAT_MS = 60_000;

/** The indexed message, or why an answer cannot be used (see step 5 above). */
export function usableAnswer(response: Buffer): IndexedMessage | 'malformed' | 'extended_rcode' {
  const indexed = indexUpstreamMessage(response);
  if ('error' in indexed) return 'malformed';
  return indexed.rcode > 0xf ? 'extended_rcode' : indexed;
}

/**
 * What a forward's AbortController is aborted with when the forward is over (answered, failed, or
 * at its deadline): the tries still listening close their sockets. One constant: abort() without
 * a reason builds a DOMException, with a captured stack, on every forward (~0.5 KB of the ~20 KB
 * a forward allocates; heap sampling, 2026-12-03). Nothing reads the reason.
 */
const FORWARD_OVER: Error = Object.freeze(new Error('forward over: closing the tries still listening'));

export function createForwarder(options: ForwarderOptions): Forwarder {
  const policy = options.policy ?? FORWARDER_DEFAULTS.policy;
  const tryTimeoutMs = options.tryTimeoutMs ?? FORWARDER_DEFAULTS.tryTimeoutMs;
  const deadlineMs = options.deadlineMs ?? FORWARDER_DEFAULTS.deadlineMs;
  const maxTries = Math.max(1, options.maxTries ?? FORWARDER_DEFAULTS.maxTries);
  const forceTcp = options.forceTcp ?? FORWARDER_DEFAULTS.forceTcp;
  const maxOutstanding = options.maxOutstanding ?? FORWARDER_DEFAULTS.maxOutstanding;
  const udpPayloadSize = options.udpPayloadSize ?? FORWARDER_DEFAULTS.udpPayloadSize;
  const maxFails = options.maxFails ?? FORWARDER_DEFAULTS.maxFails;
  const healthCheckIntervalMs = options.healthCheckIntervalMs ?? FORWARDER_DEFAULTS.healthCheckIntervalMs;
  const healthCheckTimeoutMs = options.healthCheckTimeoutMs ?? FORWARDER_DEFAULTS.healthCheckTimeoutMs;
  const random = options.random ?? Math.random;
  const { logger, metrics } = options;

  // One Upstream per address, shared by every group it appears in: health is per server.
  const byName = new Map<string, Upstream>();
  const pools = new Map<Upstream, TcpPool>();
  const poolFor = (upstream: Upstream): TcpPool => {
    let pool = pools.get(upstream);
    if (!pool) pools.set(upstream, (pool = createTcpPool(upstream.address, { ...options.tcp, udpPayloadSize })));
    return pool;
  };
  const upstreamFor = (address: UpstreamAddress): Upstream => {
    const name = upstreamName(address);
    let upstream = byName.get(name);
    if (upstream) return upstream;
    upstream = new Upstream(address, {
      maxFails,
      healthCheckIntervalMs,
      failurePenaltyMs: tryTimeoutMs,
      // The probe travels like the queries (CoreDNS health-checks over TCP with force_tcp): a UDP
      // probe could pass while TCP, the path queries take, is broken.
      probe: async (signal) => {
        const outcome = forceTcp
          ? await poolFor(upstream!).exchange(HEALTH_PROBE_QUERY, { timeoutMs: healthCheckTimeoutMs, signal })
          : await exchangeUdp(address, HEALTH_PROBE_QUERY, { timeoutMs: healthCheckTimeoutMs, udpPayloadSize, signal });
        // An upstream that answers only BADCOOKIE or garbage is not back.
        return outcome.kind === 'truncated' || (outcome.kind === 'response' && typeof usableAnswer(outcome.response) === 'object');
      },
      onStateChange: (changed, up, reason) => {
        metrics.upstreamUp(changed.name, up);
        if (up) {
          down.clear({ upstream: changed.name, reason });
          return;
        }
        metrics.markedDown(changed.name);
        down.report({ upstream: changed.name, reason, maxFails, probeEveryMs: healthCheckIntervalMs, timesMarkedDown: changed.state().timesMarkedDown });
      },
      // A lasting outage is repeated at the condition's rate, not once per probe.
      onProbeFailed: (changed) => down.report({ upstream: changed.name, reason: 'health probe unanswered', timesMarkedDown: changed.state().timesMarkedDown }),
    });
    // One condition per upstream: a flapping upstream logs its first "down", then at most one
    // line per UPSTREAM_DOWN_LOG_REPEAT_MS with how often it recurred, and "up again" only for an
    // episode whose start was logged (persistent-condition.ts).
    const down = new PersistentCondition({
      logger,
      message: 'upstream marked down; probing it in the background',
      clearedMessage: 'upstream is up again',
      repeatMs: UPSTREAM_DOWN_LOG_REPEAT_MS,
    });
    byName.set(name, upstream);
    metrics.addUpstream(name);
    return upstream;
  };

  const defaultGroup = options.upstreams.map(upstreamFor);
  const domainGroups = new Map<string, Upstream[]>();
  for (const [domain, addresses] of options.domainUpstreams ?? []) {
    domainGroups.set(normalizeDomain(domain), addresses.map(upstreamFor));
  }

  /** dnsmasq server=/domain/ip: the longest configured suffix of the name, whole labels only. */
  function groupFor(qname: string): Upstream[] {
    if (domainGroups.size === 0) return defaultGroup;
    let name = qname;
    for (;;) {
      const group = domainGroups.get(name);
      if (group) return group;
      if (name === '') return defaultGroup;
      name = parentName(name);
    }
  }

  const inFlight = new Map<string, Promise<ForwardResult>>();
  const active = new Set<AbortController>();
  let outstanding = 0;
  let closed = false;
  metrics.outstanding(0);

  async function tryUpstream(upstream: Upstream, query: UpstreamQuery, timeoutMs: number, deadlineAt: number, signal: AbortSignal): Promise<TryResult> {
    if (forceTcp) return { outcome: await poolFor(upstream).exchange(query, { timeoutMs, signal }), transport: 'tcp' };
    const outcome = await exchangeUdp(upstream.address, query, { timeoutMs, udpPayloadSize, signal, onMismatch: (reason) => metrics.mismatch(reason) });
    if (outcome.kind !== 'truncated') return { outcome, transport: 'udp' };
    // RFC 1035 §4.2.1 (TC) and RFC 7766 §5 (a forwarder must let large answers reach its clients):
    // retry over TCP at the same upstream, which has the answer, just too big for UDP. The TCP try
    // gets its own timeout, within the deadline.
    metrics.tcpFallback();
    const tcpTimeoutMs = Math.min(tryTimeoutMs, deadlineAt - performance.now());
    if (tcpTimeoutMs <= 0) return { outcome: { kind: 'timeout' }, transport: 'tcp' };
    return { outcome: await poolFor(upstream).exchange(query, { timeoutMs: tcpTimeoutMs, signal }), transport: 'tcp' };
  }

  async function runForward(query: UpstreamQuery): Promise<ForwardResult> {
    const group = groupFor(query.qname);
    if (group.length === 0) return forwardFailure('no_upstream');
    const candidates = group.filter((upstream) => !upstream.isLooping());
    if (candidates.length === 0) return forwardFailure('loop');
    const order = selectOrder(policy, candidates.map((upstream) => upstream.view()), random);

    const started = performance.now();
    const deadlineAt = started + deadlineMs;
    const controller = new AbortController();
    active.add(controller);
    const deadlineTimer = setTimeout(() => controller.abort(FORWARD_OVER), deadlineMs);
    let sawTimeout = false;
    let lastFailure: ForwardFailureReason = 'network';
    // Tries still listening. A try that passes `tryTimeoutMs` counts as a timeout for its
    // upstream's health and the next try starts, but its socket stays open until the deadline:
    // an upstream that needs 1.2 s still answers within the 1.6 s deadline (before, each try's
    // socket closed at its own timeout, and such an upstream could never answer in time).
    const listening = new Set<TryInFlight>();
    let newest: TryInFlight | null = null;
    let attempt = 0;
    let overdueTimer: NodeJS.Timeout | undefined;
    try {
      for (;;) {
        // A new try when there is none yet, or the newest failed or is overdue.
        if (newest === null || newest.overdue || !listening.has(newest)) {
          while (attempt < maxTries) {
            const upstream = candidates[order[attempt % order.length]!]!;
            attempt++;
            // Cycling back to an upstream that is down is pointless. This also makes the all-down
            // case (selection.ts returns one upstream) a single try.
            if (attempt > order.length && !upstream.isUp()) continue;
            const remaining = deadlineAt - performance.now();
            if (remaining <= 0 || controller.signal.aborted) break;
            const flight: TryInFlight = { upstream, startedAt: performance.now(), overdue: false, done: null as unknown as Promise<TryDone> };
            flight.done = tryUpstream(upstream, query, remaining, deadlineAt, controller.signal).then((result) => ({ flight, result }));
            listening.add(flight);
            newest = flight;
            break;
          }
        }
        if (listening.size === 0) break;
        const now = performance.now();
        const remaining = deadlineAt - now;
        if (remaining <= 0 || controller.signal.aborted) {
          sawTimeout = true;
          break;
        }
        // Wait for an answer, or until the newest try is overdue. Once the last try is overdue,
        // the forward ends (the tries' budget, maxTries × tryTimeout, may end before the deadline).
        // No try left with time of its own (sawTimeout was set when the newest became overdue).
        if (newest === null || newest.overdue || !listening.has(newest)) break;
        const waitMs = Math.max(0, Math.min(newest.startedAt + tryTimeoutMs - now, remaining));
        const overdue = new Promise<null>((resolve) => {
          overdueTimer = setTimeout(resolve, waitMs, null);
        });
        const done = await Promise.race([...[...listening].map((flight) => flight.done), overdue]);
        clearTimeout(overdueTimer);
        if (done === null) {
          // The newest try is overdue: a timeout for its upstream, and room for the next try.
          const late = newest;
          late.overdue = true;
          sawTimeout = true;
          metrics.failure(late.upstream.name, 'timeout');
          late.upstream.recordFailure(`no answer within ${tryTimeoutMs} ms`);
          logger.debug({ upstream: late.upstream.name, qname: query.qname, qtype: query.qtype, reason: 'timeout', attempt }, 'upstream try overdue; still listening for it');
          continue;
        }
        listening.delete(done.flight);
        const { upstream } = done.flight;
        const { outcome, transport } = done.result;
        const durationMs = performance.now() - done.flight.startedAt;
        let reason: TryFailureReason;
        let detail: string;
        if (outcome.kind === 'response') {
          metrics.response(upstream.name, headerRcode(outcome.response), durationMs / 1000);
          const message = usableAnswer(outcome.response);
          if (typeof message === 'object') {
            upstream.recordResponse(durationMs);
            return { ok: true, query, message, response: outcome.response, upstream: upstream.name, transport, durationMs: performance.now() - started };
          }
          reason = lastFailure = message;
          detail = message === 'malformed' ? `malformed answer over ${transport}` : `extended RCODE (BADCOOKIE, BADVERS, …) over ${transport}`;
        } else if (outcome.kind === 'aborted') {
          // The deadline (or close()) cut this try short: it says nothing about the upstream.
          sawTimeout = true;
          break;
        } else if (outcome.kind === 'network') {
          // 'truncated' cannot come back from tryUpstream; 'timeout' and 'network' are failures.
          reason = lastFailure = 'network';
          detail = outcome.error;
        } else {
          sawTimeout = true;
          // An overdue try was already counted as a timeout.
          if (done.flight.overdue) continue;
          reason = 'timeout';
          detail = `no answer within ${Math.round(durationMs)} ms over ${transport}`;
        }
        metrics.failure(upstream.name, reason);
        upstream.recordFailure(detail);
        logger.debug({ upstream: upstream.name, qname: query.qname, qtype: query.qtype, reason, detail, transport, attempt }, 'upstream try failed');
      }
    } finally {
      clearTimeout(deadlineTimer);
      clearTimeout(overdueTimer);
      // Answered or given up: close whatever is still listening.
      controller.abort(FORWARD_OVER);
      active.delete(controller);
    }
    if (closed) return forwardFailure('network');
    return forwardFailure(sawTimeout ? 'timeout' : lastFailure);
  }

  return {
    forward(query) {
      if (closed) return Promise.resolve(forwardFailure('network'));
      // RD is in the key besides the (name, type, class, DO, CD): an RD=0 query gets a
      // different answer from a recursive upstream and must not share an RD=1 query's.
      const key = `${query.qname}|${query.qtype}|${query.qclass}|${query.dnssecOk ? 1 : 0}${query.checkingDisabled ? 1 : 0}${query.recursionDesired ? 1 : 0}`;
      const existing = inFlight.get(key);
      if (existing) {
        metrics.coalesced();
        // Joiners share the result: nobody writes to it (the assembler builds each client's
        // response in a buffer of its own, and the cache copies what it keeps).
        return existing;
      }
      if (outstanding >= maxOutstanding) {
        metrics.rejected();
        return Promise.resolve(forwardFailure('overloaded'));
      }
      outstanding++;
      metrics.outstanding(outstanding);
      const promise = runForward(query)
        .catch((error: unknown) => {
          // A bug, not an upstream failure: still an answer for the client, and loud in the log.
          logger.error({ err: error, qname: query.qname }, 'forwarder failed unexpectedly');
          return forwardFailure('network');
        })
        .finally(() => {
          outstanding--;
          metrics.outstanding(outstanding);
          inFlight.delete(key);
        });
      inFlight.set(key, promise);
      return promise;
    },
    markLooping(to) {
      const upstream = byName.get(to);
      if (!upstream) return false;
      upstream.markLooping();
      metrics.upstreamUp(upstream.name, false);
      logger.error({ upstream: upstream.name }, 'forwarding loop: our own probe came back through this upstream; it is taken out of rotation');
      return true;
    },
    state() {
      return [...byName.values()].map((upstream) => upstream.state());
    },
    close() {
      if (closed) return;
      closed = true;
      for (const controller of active) controller.abort();
      for (const upstream of byName.values()) upstream.close();
      for (const pool of pools.values()) pool.close();
    },
  };
}

function normalizeDomain(domain: string): string {
  const lower = domain.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

