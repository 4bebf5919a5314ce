// Client views: which clients may use recursion, which may see the mesh zone, and (with
// `views.list`) which zone set of the mesh they see. First among
// the name-based stages, so a client that may have nothing costs one lookup and gets REFUSED
// (RFC 8914 EDE 18 "Prohibited"). Decided on the socket's source address, never on anything
// inside the packet (an ECS option must not choose the view, the reason Blocky rate-limits
// before ECS handling).

import ipaddr from 'ipaddr.js';
import { EdeCode, Rcode } from '../../wire/constants.ts';
import { rcodeOnly } from '../../wire/response.ts';
import type { PipelineStage, QueryContext, StageResult } from '../types.ts';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Loopback, RFC 1918, RFC 6598 shared, ULA and link-local: where containers and pods live. */
export const PRIVATE_NETWORKS: readonly string[] = ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7', 'fe80::/10'];

/** Not an open resolver out of the box: recursion and the mesh for private networks only. */
export const DEFAULT_ACCESS_POLICY: AccessPolicy = { recursionNetworks: PRIVATE_NETWORKS, meshNetworks: PRIVATE_NETWORKS };

export interface AccessPolicy {
  /** CIDRs whose clients get names outside our zones resolved (forwarded). */
  recursionNetworks: readonly string[];
  /** CIDRs whose clients get answers from the mesh and reverse zones. */
  meshNetworks: readonly string[];
  /**
   * Views (issue 8 item 5): the networks of each, in zone-set order. A client is in the view with
   * the most specific matching prefix; its index becomes `context.zoneView`. Absent: view 0 for all.
   */
  viewNetworks?: readonly (readonly string[])[];
  /** zoneView of a client in no view (ZoneHolder.unmatchedView(): NO_VIEW or the static-only set). */
  unmatchedView?: number;
}

const RECURSION = 1;
const MESH = 2;
const ACCESS_BITS = RECURSION | MESH;
// Above the two access bits: zoneView + 1 (so NO_VIEW, -1, is 0). One memoised number per client
// address carries everything; the query path does a shift, no lookup of its own.
const VIEW_SHIFT = 2;
// Decisions per client address are remembered; the map is cleared when full so a scan from many
// source addresses cannot grow it without bound.
const MEMO_LIMIT = 4096;

function parseRanges(cidrs: readonly string[]): Range[] {
  return cidrs.map((cidr) => ipaddr.parseCIDR(cidr));
}

function matchesAny(address: ipaddr.IPv4 | ipaddr.IPv6, ranges: readonly Range[]): boolean {
  return ranges.some(([network, prefix]) => network.kind() === address.kind() && address.match(network, prefix));
}

/** The zone view of an address: the view whose network is the most specific match, else `unmatched`. */
function selectView(address: ipaddr.IPv4 | ipaddr.IPv6, views: readonly (readonly Range[])[], unmatched: number): number {
  let best = unmatched;
  let bestPrefix = -1;
  views.forEach((ranges, index) => {
    for (const [network, prefix] of ranges) {
      if (prefix > bestPrefix && network.kind() === address.kind() && address.match(network, prefix)) {
        best = index;
        bestPrefix = prefix;
      }
    }
  });
  return best;
}

/** The zone view carried in a classifier result. */
export function zoneViewOf(classified: number): number {
  return (classified >>> VIEW_SHIFT) - 1;
}

/**
 * What one client address may see: a bit set of RECURSION and MESH, with its zone view above
 * them (zoneViewOf); 0 for unparsable addresses. Memoised per address, so the per-view prefix
 * scan runs once per client, not per query.
 */
export function createAccessClassifier(policy: AccessPolicy): (clientAddress: string) => number {
  const recursion = parseRanges(policy.recursionNetworks);
  const mesh = parseRanges(policy.meshNetworks);
  const viewsOrNull = policy.viewNetworks && policy.viewNetworks.length > 0 ? policy.viewNetworks.map(parseRanges) : null;
  const unmatched = policy.unmatchedView ?? 0;
  const memo = new Map<string, number>();
  return (clientAddress) => {
    let views = memo.get(clientAddress);
    if (views !== undefined) return views;
    views = 0;
    if (ipaddr.isValid(clientAddress)) {
      // ipaddr.process turns IPv4-mapped IPv6 (::ffff:a.b.c.d) into the IPv4 address it carries.
      const address = ipaddr.process(clientAddress);
      if (matchesAny(address, recursion)) views |= RECURSION;
      if (matchesAny(address, mesh)) views |= MESH;
      const zoneView = viewsOrNull === null ? 0 : selectView(address, viewsOrNull, unmatched);
      views |= (zoneView + 1) << VIEW_SHIFT;
    }
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(clientAddress, views);
    return views;
  };
}

/** The policy a pipeline enforces: without a forwarder nobody is offered recursion. */
export function enforcedAccessPolicy(policy: AccessPolicy, recursionOffered: boolean): AccessPolicy {
  return recursionOffered ? policy : { ...policy, recursionNetworks: [] };
}

/**
 * Whether a client may be answered anything at all: some view allows it the mesh or recursion.
 * The TCP listener asks at accept, before reading a byte: a client that would only ever get
 * REFUSED must not hold a connection slot. Over UDP such a client still gets REFUSED with
 * EDE 18: correct DNS, and cheap, since the decision is memoised per address (measured through
 * the whole query handler: 2.9 µs for the REFUSED, 4.0 µs for an authoritative answer; a scan
 * from 8,192 addresses, overflowing the memo, 5.5 µs).
 * Pass the enforced policy, so the listener and this stage never disagree.
 */
export function createClientAdmission(policy: AccessPolicy): (clientAddress: string) => boolean {
  const classify = createAccessClassifier(policy);
  return (clientAddress) => (classify(clientAddress) & ACCESS_BITS) !== 0;
}

export const PROHIBITED = { code: EdeCode.PROHIBITED, text: 'client not allowed' };

export function createAccessControlStage(policy: AccessPolicy): PipelineStage {
  const classify = createAccessClassifier(policy);
  return {
    name: 'access-control',
    resolve(context: QueryContext): StageResult {
      const views = classify(context.clientAddress);
      if ((views & ACCESS_BITS) === 0) return { kind: 'refused', sections: rcodeOnly(Rcode.REFUSED), ede: PROHIBITED };
      context.recursionAllowed = (views & RECURSION) !== 0;
      context.meshAllowed = (views & MESH) !== 0;
      context.zoneView = zoneViewOf(views);
      return null;
    },
  };
}
