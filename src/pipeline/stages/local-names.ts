// Names answered here so they never leave the machine:
// - special-use names: localhost (RFC 6761 §6.3: loopback addresses for address queries, an
//   empty answer otherwise), invalid (§6.4), onion (RFC 7686 §2) and local outside our zone
//   (RFC 6762 §3: .local belongs to multicast DNS and must not reach unicast servers);
// - single-label names (dnsmasq domain-needed): a stub walking its search list gets NXDOMAIN at
//   once instead of the bare name going to the internet (the ndots:5 leak);
// - reverse names in private and special ranges (RFC 6303; dnsmasq bogus-priv) that are not
//   one of our reverse zones: nobody upstream can know them, so NXDOMAIN.
// After the mesh zone (our own names and reverse zones answer first), before cache and forwarder.
//
// The mesh apex is read from the zone set in force, not fixed at start: a SIGHUP that changes
// `zone.name` swaps the zone set, and the old apex, now just another .local name, must be
// answered here instead of being forwarded. Only .local names read it, one field load.

import { Rcode, RRClass, RRType } from '../../wire/constants.ts';
import { encodeNameAgainstQuestion, isInZone, parentName } from '../../wire/name.ts';
import { rcodeOnly, type RecordSections } from '../../wire/response.ts';
import { reverseZonesForCidr } from '../../zone/reverse.ts';
import type { ZoneSet } from '../../zone/zone.ts';
import type { PipelineStage, QueryContext, StageAnswer, StageResult } from '../types.ts';

export interface LocalNamesOptions {
  /** The zone set in force (its `meshApex` is excluded from the .local rule). */
  meshZone: { current(): Pick<ZoneSet, 'meshApex'> };
  domainNeeded: boolean;
  bogusPriv: boolean;
}

/** RFC 6303 §4 and RFC 6598/5737/3849 ranges whose reverse names are answered locally. */
export const PRIVATE_REVERSE_CIDRS = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12',
  '192.0.2.0/24', '192.168.0.0/16', '198.51.100.0/24', '203.0.113.0/24', '255.255.255.255/32',
  '::/128', '::1/128', 'fc00::/7', 'fe80::/10', '2001:db8::/32',
];

// Types that exist at single-label names in the real DNS (TLD delegations); they are forwarded.
const INFRASTRUCTURE_TYPES = new Set<number>([RRType.NS, RRType.SOA, RRType.DS, RRType.DNSKEY]);
const LOCALHOST_TTL = 86400;

function nxdomain(): StageAnswer {
  return { kind: 'local', sections: rcodeOnly(Rcode.NXDOMAIN) };
}

function loopbackAnswer(context: QueryContext): StageAnswer {
  const { qname, qtype, qnameWireLength } = context.request;
  const rdata = qtype === RRType.A ? Buffer.from([127, 0, 0, 1]) : qtype === RRType.AAAA ? Buffer.from([...Array(15).fill(0), 1]) : null;
  if (!rdata) return { kind: 'local', sections: rcodeOnly(Rcode.NOERROR) };
  const tail = Buffer.alloc(10);
  tail.writeUInt16BE(qtype, 0);
  tail.writeUInt16BE(RRClass.IN, 2);
  tail.writeUInt32BE(LOCALHOST_TTL, 4);
  tail.writeUInt16BE(rdata.length, 8);
  const body = Buffer.concat([encodeNameAgainstQuestion(qname, qname, qnameWireLength), tail, rdata]);
  const sections: RecordSections = {
    rcode: Rcode.NOERROR, authoritative: false, body, answerCount: 1, authorityCount: 0, additionalCount: 0,
    withoutAdditionalLength: body.length, rotationUnit: 0,
  };
  return { kind: 'local', sections };
}

/** Whether the last label of `name`, which starts at `start`, is `label` (both lowercase). */
function lastLabelIs(name: string, start: number, label: string): boolean {
  return name.length - start === label.length && name.startsWith(label, start);
}

export function createLocalNamesStage(options: LocalNamesOptions): PipelineStage {
  const privateReverseZones = new Set(PRIVATE_REVERSE_CIDRS.flatMap(reverseZonesForCidr));
  const inPrivateReverse = (qname: string) => {
    for (let name = qname; name !== ''; name = parentName(name)) if (privateReverseZones.has(name)) return true;
    return false;
  };
  return {
    name: 'local-names',
    resolve(context: QueryContext): StageResult {
      const { qname, qtype } = context.request;
      // Every rule below is decided by the last label first: found once, then compared in place
      // (no suffix string, no label count walk), so a forwarded name (com, net, test, …) passes
      // on after a lastIndexOf and a few length compares. Five suffix checks were ~4% of a
      // forwarded cache hit in-process (test/bench/cache-hit-micro.ts profile, issue 9).
      const start = qname.lastIndexOf('.') + 1;
      if (lastLabelIs(qname, start, 'localhost')) return loopbackAnswer(context);
      if (lastLabelIs(qname, start, 'invalid') || lastLabelIs(qname, start, 'onion')) return nxdomain();
      if (lastLabelIs(qname, start, 'local') && !isInZone(qname, options.meshZone.current().meshApex)) return nxdomain();
      // One label: no dot at all (the root, '', has no labels).
      if (options.domainNeeded && start === 0 && qname !== '' && !INFRASTRUCTURE_TYPES.has(qtype)) return nxdomain();
      if (options.bogusPriv && lastLabelIs(qname, start, 'arpa') && (qname.endsWith('.in-addr.arpa') || qname.endsWith('.ip6.arpa')) && inPrivateReverse(qname)) return nxdomain();
      return null;
    },
  };
}
