// Single-label names (`weather.`, what glibc asks first with ndots:0) in one round trip:
// 1. an agent or static record `<label>.<mesh zone>` exists: answered from the mesh zone with the
//    query's own label as owner, the zone's TTLs and AA, NODATA for a missing type — as Docker's
//    embedded DNS answers container names;
// 2. otherwise, when a container runtime resolver is configured (Docker's 127.0.0.11, podman's
//    network gateway; forward/runtime-resolver.ts), relayed there, so compose service names
//    (`registry`, `postgres`) resolve. Only there: never to the public upstreams;
// 3. otherwise passed on: local-names answers NXDOMAIN (domain-needed), as before; but before the
//    zone holds the agents (not ready), SERVFAIL + EDE 14 as the mesh zone gives.
// Types that exist at single-label names in the public DNS (NS, SOA, DS, DNSKEY at TLDs) are
// left to local-names, which forwards them.
//
// The zone is read through the same accessor as the mesh-zone stage (MeshZoneSource, with the
// client's context.zoneView), so a client sees as short names exactly the agents its view shows.

import { RRType } from '../../wire/constants.ts';
import { answerFromZone } from '../../zone/answer.ts';
import type { ShortNameMetrics } from '../short-name-metrics.ts';
import type { PipelineStage, QueryContext, StageAnswer, StageResult } from '../types.ts';
import { notReadyAnswer, type MeshZoneSource } from './mesh-zone.ts';

export interface SingleLabelOptions {
  zone: MeshZoneSource;
  /** The forward stage over the runtime resolver (forward/runtime-resolver.ts), or null. */
  runtime: PipelineStage | null;
  /** True when local-names answers what is left NXDOMAIN (names.domainNeeded). */
  domainNeeded: boolean;
  metrics: ShortNameMetrics;
}

const INFRASTRUCTURE_TYPES = new Set<number>([RRType.NS, RRType.SOA, RRType.DS, RRType.DNSKEY]);

export function createSingleLabelStage(options: SingleLabelOptions): PipelineStage {
  const { zone: source, runtime, metrics } = options;
  const counted = (answer: StageAnswer): StageAnswer => {
    metrics.singleLabel.runtime++;
    return answer;
  };
  return {
    name: 'single-label',
    resolve(context: QueryContext, next): StageResult | Promise<StageResult> {
      const { qname, qtype, qnameWireLength } = context.request;
      // The root and every multi-label name pass on at the cost of one indexOf.
      if (qname === '' || qname.indexOf('.') >= 0 || INFRASTRUCTURE_TYPES.has(qtype)) return null;
      // The client's own view of the mesh (views: its zone set; in no view: no mesh names).
      const view = context.zoneView;
      if (context.meshAllowed && view >= 0) {
        const zones = source.current(view);
        const meshName = `${qname}.${zones.meshApex}`;
        // An empty non-terminal (a node without records) is not an agent: not ours to answer.
        if ((zones.byApex.get(zones.meshApex)?.nodes.get(meshName)?.size ?? 0) > 0) {
          const sections = answerFromZone(zones, qname, qtype, qnameWireLength, meshName);
          if (sections) {
            metrics.singleLabel.zone++;
            return { kind: 'authoritative', sections };
          }
        }
      }
      if (runtime && context.recursionAllowed) {
        const relayed = runtime.resolve(context, next);
        return relayed instanceof Promise ? relayed.then((answer) => answer && counted(answer)) : relayed && counted(relayed);
      }
      // Before the zone holds the agents, the NXDOMAIN local-names would give is not known to be
      // true (and clients cache it): the mesh zone's not-ready answer. Not counted as nxdomain.
      if (options.domainNeeded && context.meshAllowed && view >= 0 && !source.ready()) return notReadyAnswer();
      if (options.domainNeeded) metrics.singleLabel.nxdomain++;
      return null;
    },
  };
}
