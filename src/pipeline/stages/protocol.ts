// Query types and classes we never answer from data, decided before any data is consulted.

import { Rcode, RRClass, RRType } from '../../wire/constants.ts';
import { rcodeOnly } from '../../wire/response.ts';
import type { PipelineStage, QueryContext, StageResult } from '../types.ts';

export function createProtocolStage(): PipelineStage {
  return {
    name: 'protocol',
    resolve({ request }: QueryContext): StageResult {
      // RFC 6891 §6.1.1: OPT is a pseudo-record and cannot be asked for.
      if (request.qtype === RRType.OPT) return { kind: 'formerr', sections: rcodeOnly(Rcode.FORMERR) };
      // No zone transfers from a sidecar: the zone is derived from the registry, not a master file.
      if (request.qtype === RRType.AXFR || request.qtype === RRType.IXFR) return { kind: 'refused', sections: rcodeOnly(Rcode.REFUSED) };
      // IN and ANY go on; CHAOS has its own stage; anything else (HS, NONE) is not served here.
      if (request.qclass !== RRClass.IN && request.qclass !== RRClass.ANY && request.qclass !== RRClass.CH) {
        return { kind: 'refused', sections: rcodeOnly(Rcode.REFUSED) };
      }
      return null;
    },
  };
}
