// The contract of the forwarder with the query path: what a forwarded query carries, and the one
// typed outcome it gets back. A failure always comes with the Extended DNS Error (RFC 8914) the
// query path puts into its SERVFAIL (or REFUSED, for `overloaded`), so no failure is silent.

import { formatListenAddress } from '../listeners/address.ts';
import type { AddressFamily, Transport } from '../pipeline/types.ts';
import { EdeCode } from '../wire/constants.ts';
import type { ExtendedError } from '../wire/response.ts';

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

export type ForwardFailureReason = 'timeout' | 'network' | 'overloaded' | 'no_upstream' | 'loop';

export type ForwardResult =
  | {
      ok: true;
      /** The complete upstream message, owned by the caller (never TC: TC over UDP is retried over TCP). */
      response: Buffer;
      /** "host:port" of the upstream that answered. */
      upstream: string;
      transport: Transport;
      durationMs: number;
    }
  | { ok: false; reason: ForwardFailureReason; ede: ExtendedError };

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
  overloaded: Object.freeze({ code: EdeCode.OTHER, text: 'too many outstanding upstream queries' }),
  no_upstream: Object.freeze({ code: EdeCode.NO_REACHABLE_AUTHORITY, text: 'no upstream configured for this name' }),
  loop: Object.freeze({ code: EdeCode.NO_REACHABLE_AUTHORITY, text: 'forwarding loop detected; upstream taken out of rotation' }),
});

export function forwardFailure(reason: ForwardFailureReason): Extract<ForwardResult, { ok: false }> {
  return { ok: false, reason, ede: FAILURE_EDE[reason] };
}
