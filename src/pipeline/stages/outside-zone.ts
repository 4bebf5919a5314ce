// Names outside our zones. Until the forwarder exists they are REFUSED (RFC 1035: "refuses to
// perform the specified operation for policy reasons"), which tells the client to try its next
// server instead of caching a negative answer.

import { EdeCode, Rcode } from '../../wire/constants.ts';
import { rcodeOnly } from '../../wire/response.ts';
import type { PipelineStage, StageResult } from '../types.ts';

export function createOutsideZoneStage(): PipelineStage {
  return {
    name: 'outside-zone',
    resolve(): StageResult {
      return { kind: 'refused', sections: rcodeOnly(Rcode.REFUSED), ede: { code: EdeCode.NOT_AUTHORITATIVE, text: 'not a mesh name' } };
    },
  };
}
