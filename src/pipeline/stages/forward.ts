// Names outside our zones, relayed to an upstream. The upstream's answer goes back as bytes
// (indexed by the forwarder, never decoded and re-encoded: a codec would drop what it does not
// know) with the client's ID and question case restored by the assembler and our own OPT. A
// truncated upstream answer keeps its TC bit (RecordSections.truncated), so the client retries.

import { EdeCode, Flag, Rcode } from '../../wire/constants.ts';
import { rcodeOnly } from '../../wire/response.ts';
import type { Forwarder } from '../../forward/forwarder.ts';
import type { LoopDetector } from '../../forward/loop.ts';
import type { UpstreamQuery } from '../../forward/types.ts';
import type { PipelineStage, QueryContext, StageAnswer } from '../types.ts';
import { PROHIBITED } from './access-control.ts';

export interface ForwardStageOptions {
  forwarder: Forwarder;
  /** Recognises our own loop probe coming back to us (see forward/loop.ts). */
  loopDetector: LoopDetector | null;
}

const LOOP_PROBE = { code: EdeCode.OTHER, text: 'forwarding loop probe' };

export function upstreamQueryOf(context: QueryContext): UpstreamQuery {
  const { request } = context;
  return {
    qname: request.qname,
    // A copy: the query outlives the turn its message (maybe a view of a read buffer) is valid in.
    question: Buffer.from(request.message.subarray(12, request.questionEnd)),
    qtype: request.qtype,
    qclass: request.qclass,
    recursionDesired: (request.flags & Flag.RD) !== 0,
    dnssecOk: request.edns?.dnssecOk ?? false,
    checkingDisabled: (request.flags & Flag.CD) !== 0,
  };
}

export function createForwardStage(options: ForwardStageOptions): PipelineStage {
  const { forwarder, loopDetector } = options;
  return {
    name: 'forward',
    async resolve(context: QueryContext): Promise<StageAnswer> {
      if (!context.recursionAllowed) return { kind: 'refused', sections: rcodeOnly(Rcode.REFUSED), ede: PROHIBITED };
      // Our probe came back: an upstream forwards to us. Never forward it again (that is the loop).
      if (loopDetector?.observe(context.request.qname)) return { kind: 'refused', sections: rcodeOnly(Rcode.REFUSED), ede: LOOP_PROBE };
      const result = await forwarder.forward(upstreamQueryOf(context));
      if (!result.ok) {
        // Over the outstanding cap: REFUSED sends the client to its next server at once and is
        // not remembered as a failure of the name (CoreDNS max_concurrent does the same).
        if (result.reason === 'overloaded') return { kind: 'refused', sections: rcodeOnly(Rcode.REFUSED), ede: result.ede };
        return { kind: 'upstream_failed', sections: rcodeOnly(Rcode.SERVFAIL), ede: result.ede };
      }
      return { kind: 'forwarded', sections: result.message, forwarded: result };
    },
  };
}
