// CHAOS-class queries: version.bind / version.server answered only when configured
// (disclosing the version is an operator's choice), everything else in CHAOS is REFUSED.

import { Rcode, RRClass, RRType } from '../../wire/constants.ts';
import { encodeNameAgainstQuestion } from '../../wire/name.ts';
import { truncateUtf8 } from '../../zone/compile.ts';
import { rcodeOnly, type RecordSections } from '../../wire/response.ts';
import type { PipelineStage, QueryContext, StageResult } from '../types.ts';

const VERSION_NAMES = new Set(['version.bind', 'version.server']);

function versionTxt(qname: string, qnameWireLength: number, version: string): RecordSections {
  const text = Buffer.from(truncateUtf8(version, 255), 'utf8');
  const rdata = Buffer.concat([Buffer.from([text.length]), text]);
  const tail = Buffer.alloc(10);
  tail.writeUInt16BE(RRType.TXT, 0);
  tail.writeUInt16BE(RRClass.CH, 2);
  tail.writeUInt32BE(0, 4);
  tail.writeUInt16BE(rdata.length, 8);
  const body = Buffer.concat([encodeNameAgainstQuestion(qname, qname, qnameWireLength), tail, rdata]);
  return { rcode: Rcode.NOERROR, authoritative: true, body, answerCount: 1, authorityCount: 0, additionalCount: 0, withoutAdditionalLength: body.length, rotationUnit: 0 };
}

export function createChaosStage(versionText: string): PipelineStage {
  return {
    name: 'chaos',
    resolve({ request }: QueryContext): StageResult {
      if (request.qclass !== RRClass.CH) return null;
      const asksVersion = VERSION_NAMES.has(request.qname) && (request.qtype === RRType.TXT || request.qtype === RRType.ANY);
      if (!asksVersion || versionText === '') return { kind: 'refused', sections: rcodeOnly(Rcode.REFUSED) };
      return { kind: 'chaos', sections: versionTxt(request.qname, request.qnameWireLength, versionText) };
    },
  };
}
