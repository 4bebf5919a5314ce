// The authoritative answer for the mesh zone and the reverse zones, from the current zone set.

import { EdeCode, Rcode } from '../../wire/constants.ts';
import { rcodeOnly } from '../../wire/response.ts';
import { answerFromZone } from '../../zone/answer.ts';
import type { ZoneSet } from '../../zone/zone.ts';
import type { PipelineStage, QueryContext, StageAnswer, StageResult } from '../types.ts';
import { PROHIBITED } from './access-control.ts';

export interface MeshZoneSource {
  /**
   * The zone set to answer from; swapped atomically by the registry sync. `view`: the client's
   * zone view (context.zoneView); without an argument, or without views, the one zone set.
   */
  current(view?: number): ZoneSet;
  /**
   * False until the first registry sync or snapshot load is served, its zone built (static records
   * serve meanwhile).
   */
  ready(): boolean;
}

/**
 * Before the registry has been read, "no such agent" is not known to be true, and a negative
 * answer would be cached downstream for the SOA minimum: SERVFAIL with EDE 14 (Not Ready) instead.
 */
export function notReadyAnswer(): StageAnswer {
  return { kind: 'not_ready', sections: rcodeOnly(Rcode.SERVFAIL), ede: { code: EdeCode.NOT_READY, text: 'registry not synced yet' } };
}

export function createMeshZoneStage(source: MeshZoneSource): PipelineStage {
  return {
    name: 'mesh-zone',
    resolve(context: QueryContext): StageResult {
      const { request } = context;
      const view = context.zoneView;
      const sections = answerFromZone(source.current(view < 0 ? 0 : view), request.qname, request.qtype, request.qnameWireLength);
      if (!sections) return null;
      // Ours, but this client's view does not include the mesh (or it is in no view, with
      // views.unmatched: refused): refused, never forwarded.
      if (!context.meshAllowed || view < 0) return { kind: 'refused', sections: rcodeOnly(Rcode.REFUSED), ede: PROHIBITED };
      // Negative includes a CNAME chain that ends in NXDOMAIN/NODATA (RFC 6604 §3, RFC 2308 §2):
      // it has ANSWER records but carries the SOA in AUTHORITY, which only negative answers do.
      if ((sections.answerCount === 0 || sections.authorityCount > 0) && !source.ready()) return notReadyAnswer();
      return { kind: 'authoritative', sections };
    },
  };
}
