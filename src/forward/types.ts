// The contract of the forwarder with the query path: what a forwarded query carries, and the one
// typed outcome it gets back. A failure always comes with the Extended DNS Error (RFC 8914) the
// query path puts into its SERVFAIL (or REFUSED, for `overloaded`), so no failure is silent.

import { formatListenAddress } from '../listeners/address.ts';
import type { AddressFamily, Transport } from '../pipeline/types.ts';
import { EdeCode } from '../wire/constants.ts';
import type { ExtendedError } from '../wire/response.ts';
import type { IndexedMessage } from '../wire/upstream-message.ts';

export interface UpstreamAddress {
  /** An IP literal; an IPv6 link-local address may carry its `%scope`. */
  host: string;
  port: number;
  family: AddressFamily;
}

export interface UpstreamQuery {
  /** Lowercased presentation form (see wire/name.ts): the key for coalescing and for the response check. */
  qname: string;
  /** The question section to send, name + type + class, taken from the client's request (its case kept). */
  question: Buffer;
  qtype: number;
  qclass: number;
  recursionDesired: boolean;
  /** EDNS DO bit (RFC 3225), passed on so DNSSEC records come back when the client asked. */
  dnssecOk: boolean;
  /** CD bit (RFC 4035 §3.2.2), passed on so a validating client can do its own validation. */
  checkingDisabled: boolean;
}

/**
 * Why a forward failed. Besides no answer at all: `malformed` (every answer that came failed the
 * record walk) and `extended_rcode` (the upstream answered with an extended RCODE such as
 * BADCOOKIE 23 or BADVERS 16: those live in the OPT, which is hop-by-hop (RFC 6891 §6.1.1,
 * RFC 7873 §5.3), so they are about our exchange with the upstream and mean nothing to the client).
 */
export type ForwardFailureReason = 'timeout' | 'network' | 'malformed' | 'extended_rcode' | 'overloaded' | 'no_upstream' | 'loop';

/**
 * The typed seam between forwarder and cache: an upstream answer together with the query that got
 * it. The query says what the answer may be reused for — RD=0 answers (RFC 1035 §4.1.1: no
 * recursion was done, e.g. a CNAME without its target) must never reach RD=1 clients — and the
 * message is already indexed, so neither side parses it again.
 */
export interface ForwardedAnswer {
  query: UpstreamQuery;
  /** The upstream message, indexed; read-only (coalesced callers share it; the cache copies what it keeps). */
  message: IndexedMessage;
}

export interface ForwardSuccess extends ForwardedAnswer {
  ok: true;
  /** The complete upstream message `message` indexes. TC=1 only when the TCP retry was truncated too. */
  response: Buffer;
  /** "host:port" of the upstream that answered. */
  upstream: string;
  transport: Transport;
  durationMs: number;
}

export type ForwardResult = ForwardSuccess | { ok: false; reason: ForwardFailureReason; ede: ExtendedError };

export type SelectionPolicy = 'sequential' | 'random' | 'fastest';

export const SELECTION_POLICIES: readonly SelectionPolicy[] = ['sequential', 'random', 'fastest'];

/** "host:port", or "[v6]:port": the `to` label of the metrics, and the name in logs and state(). */
export function upstreamName(address: UpstreamAddress): string {
  return formatListenAddress(address);
}

/**
 * The EDE for each failure. The text is deliberately generic: clients see it, and the upstream
 * addresses are the operator's business (they are in the logs and metrics).
 */
export const FAILURE_EDE: Readonly<Record<ForwardFailureReason, ExtendedError>> = Object.freeze({
  timeout: Object.freeze({ code: EdeCode.NO_REACHABLE_AUTHORITY, text: 'no upstream answered in time' }),
  network: Object.freeze({ code: EdeCode.NETWORK_ERROR, text: 'upstream network error' }),
  malformed: Object.freeze({ code: EdeCode.NETWORK_ERROR, text: 'malformed upstream response' }),
  extended_rcode: Object.freeze({ code: EdeCode.OTHER, text: 'upstream answered with an extended RCODE (e.g. BADCOOKIE)' }),
  overloaded: Object.freeze({ code: EdeCode.OTHER, text: 'too many outstanding upstream queries' }),
  no_upstream: Object.freeze({ code: EdeCode.NO_REACHABLE_AUTHORITY, text: 'no upstream configured for this name' }),
  loop: Object.freeze({ code: EdeCode.NO_REACHABLE_AUTHORITY, text: 'forwarding loop detected; upstream taken out of rotation' }),
});

export function forwardFailure(reason: ForwardFailureReason): Extract<ForwardResult, { ok: false }> {
  return { ok: false, reason, ede: FAILURE_EDE[reason] };
}
