// Forwarding loops, and what can be known about them.
//
// 1. Configured into us: an upstream that is exactly one of our listen addresses (same address,
//    same port), e.g. `upstreams.servers: ["127.0.0.1:1053"]` next to `listen.dns:
//    ["127.0.0.1:1053"]`. That much the config says for certain; `selfListener` refuses it at start.
//    Nothing else is decided from addresses. A wildcard listener (0.0.0.0:53, [::]:53) does not
//    make every local address "us": in a Docker network the container's resolv.conf names
//    127.0.0.11:53, which iptables DNATs to Docker's resolver before any socket sees it; podman
//    names its network gateway (aardvark-dns). Whether a packet sent to an address that is not
//    one of our bound addresses reaches us depends on NAT rules and routes a process cannot
//    read, so it is measured instead, by 2.
// 2. Everything else, through NAT, through ourselves on another local address, or through
//    someone else (dnsmasq or a host resolver whose upstream is mesh-dns): only traffic shows it,
//    so we send a probe, like CoreDNS `loop` and dnsmasq --dns-loop-detect: a query for a random
//    name under `loop-probe.mesh-dns.test` (a special-use TLD, RFC 6761 §6.2, so nobody answers it
//    for real) to each upstream. If that name ever arrives at our own listeners, the upstream it
//    was sent to leads back to us (127.0.0.1:53 next to a 0.0.0.0:53 listener arrives at once).
//
// The query path calls `observe(qname)` on every incoming query, before forwarding: a length
// compare for all but probe-shaped names. When it returns true the query is our own probe coming
// back, and must be answered locally (SERVFAIL/REFUSED), never forwarded, which is also what stops
// the probe from circling. Unlike CoreDNS, which sends its probe through itself and so sees it
// once legitimately, we send it straight to the upstream: the first sighting is already a loop.
// Probes of another mesh-dns instance (a different random name) are not ours and are forwarded,
// so that instance can detect a loop through us.

import ipaddr from 'ipaddr.js';
import { random } from '../runtime/random.ts';
import type { ListenAddress } from '../listeners/address.ts';
import { RRClass, RRType } from '../wire/constants.ts';
import { encodePlainName } from '../wire/name.ts';
import { upstreamName, type UpstreamAddress, type UpstreamQuery } from './types.ts';
import { exchangeUdp } from './udp-exchange.ts';

// ─── Self as upstream ─────────────────────────────────────────────────────────

/** Canonical text of an address: IPv4-mapped IPv6 as IPv4, IPv6 compressed, zone dropped. */
function canonicalAddress(host: string): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(host);
  } catch {
    return null;
  }
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    parsed = v6.isIPv4MappedAddress() ? v6.toIPv4Address() : new ipaddr.IPv6(v6.parts);
  }
  return parsed.toString();
}

/**
 * The listen address that `upstream` is exactly (same address, whatever its spelling, and same
 * port), or null. A wildcard listener matches only an upstream written as that wildcard: any
 * other address is left to the loop probe (see the header).
 */
export function selfListener(upstream: UpstreamAddress, listeners: readonly ListenAddress[]): ListenAddress | null {
  const target = canonicalAddress(upstream.host);
  if (!target) return null;
  for (const listener of listeners) {
    if (listener.port === upstream.port && canonicalAddress(listener.host) === target) return listener;
  }
  return null;
}

// ─── Runtime loop probe ───────────────────────────────────────────────────────

export const LOOP_PROBE_SUFFIX = 'loop-probe.mesh-dns.test';
const HEX_LABEL_LENGTH = 16;
/** "<16 hex>.<16 hex>.loop-probe.mesh-dns.test": every probe name has exactly this length. */
const PROBE_NAME_LENGTH = HEX_LABEL_LENGTH + 1 + HEX_LABEL_LENGTH + 1 + LOOP_PROBE_SUFFIX.length;

export interface LoopDetectorOptions {
  upstreams: readonly UpstreamAddress[];
  /** Called once per looping upstream, when our probe sent to it comes back to us. */
  onLoop: (upstream: UpstreamAddress, probeName: string) => void;
  /** Probe again every this many ms (0, the default: only at start). */
  intervalMs?: number;
  /** Timeout of one probe exchange (default 2 s). */
  timeoutMs?: number;
  udpPayloadSize?: number;
  /** Sends one probe; the answer does not matter. Default: a UDP exchange. */
  send?: (upstream: UpstreamAddress, query: UpstreamQuery, signal: AbortSignal) => Promise<unknown>;
}

export interface LoopDetector {
  /** Probes every upstream now (resolves when all probes settled) and starts the interval, if any. */
  start(): Promise<void>;
  /** One probe round. */
  probe(): Promise<void>;
  /** For every incoming query: true when `qname` is one of our probes (answer it locally). */
  observe(qname: string): boolean;
  /** Upstreams seen looping so far. */
  looping(): UpstreamAddress[];
  close(): void;
}

function hexLabel(): string {
  return random.hex(HEX_LABEL_LENGTH / 2);
}

/** The HINFO query for a probe name (RD=1: the upstream must forward it for a loop to show). */
export function loopProbeQuery(name: string): UpstreamQuery {
  const encoded = encodePlainName(name);
  const question = Buffer.alloc(encoded.length + 4);
  encoded.copy(question, 0);
  question.writeUInt16BE(RRType.HINFO, encoded.length);
  question.writeUInt16BE(RRClass.IN, encoded.length + 2);
  return { qname: name, question, qtype: RRType.HINFO, qclass: RRClass.IN, recursionDesired: true, dnssecOk: false, checkingDisabled: false };
}

export function createLoopDetector(options: LoopDetectorOptions): LoopDetector {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const send = options.send ?? ((upstream, query, signal) => exchangeUdp(upstream, query, { timeoutMs, udpPayloadSize: options.udpPayloadSize, signal }));
  // The first label is this detector's, the second each probe's; both random, so nobody can
  // guess a name and make us take an upstream out of rotation.
  const instanceLabel = hexLabel();
  // Names of the current and the previous round: a probe may come back late.
  let current = new Map<string, UpstreamAddress>();
  let previous = new Map<string, UpstreamAddress>();
  const reported = new Map<string, UpstreamAddress>();
  const closing = new AbortController();
  let timer: NodeJS.Timeout | null = null;

  async function probe(): Promise<void> {
    if (closing.signal.aborted) return;
    previous = current;
    current = new Map();
    const sends: Promise<unknown>[] = [];
    for (const upstream of options.upstreams) {
      const name = `${instanceLabel}.${hexLabel()}.${LOOP_PROBE_SUFFIX}`;
      current.set(name, upstream);
      sends.push(send(upstream, loopProbeQuery(name), closing.signal).catch(() => undefined));
    }
    await Promise.all(sends);
  }

  return {
    async start() {
      await probe();
      const intervalMs = options.intervalMs ?? 0;
      if (intervalMs > 0 && timer === null && !closing.signal.aborted) {
        timer = setInterval(() => void probe(), intervalMs);
        timer.unref();
      }
    },
    probe,
    observe(qname) {
      if (qname.length !== PROBE_NAME_LENGTH) return false;
      const upstream = current.get(qname) ?? previous.get(qname);
      if (!upstream) return false;
      const name = upstreamName(upstream);
      if (!reported.has(name)) {
        reported.set(name, upstream);
        options.onLoop(upstream, qname);
      }
      return true;
    },
    looping() {
      return [...reported.values()];
    },
    close() {
      closing.abort();
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
