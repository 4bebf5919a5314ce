// The authoritative answer for the mesh zone and the reverse zones, from the current zone set.

import { EdeCode, Rcode } from '../../wire/constants.ts';
import { rcodeOnly } from '../../wire/response.ts';
import { answerFromZone } from '../../zone/answer.ts';
import type { ZoneSet } from '../../zone/zone.ts';
import type { PipelineStage, QueryContext, StageResult } from '../types.ts';

export interface MeshZoneSource {
  /** The zone set to answer from; swapped atomically by the registry sync. */
  current(): ZoneSet;
  /** False until the first registry sync or snapshot load (static records serve meanwhile). */
  ready(): boolean;
}

export function createMeshZoneStage(source: MeshZoneSource): PipelineStage {
  return {
    name: 'mesh-zone',
    resolve({ request }: QueryContext): StageResult {
      const sections = answerFromZone(source.current(), request.qname, request.qtype, request.qnameWireLength);
      if (!sections) return null;
      // Before the registry has been read, "no such agent" is not known to be true, and a
      // negative answer would be cached downstream for the SOA minimum: say "not ready" instead.
      if (sections.answerCount === 0 && !source.ready()) {
        return { kind: 'not_ready', sections: rcodeOnly(Rcode.SERVFAIL), ede: { code: EdeCode.NOT_READY, text: 'registry not synced yet' } };
      }
      return { kind: 'authoritative', sections };
    },
  };
}
