// The contract between the query handler and the pipeline stages.

import type { DnsRequest } from '../wire/request.ts';
import type { ExtendedError, RecordSections } from '../wire/response.ts';

export type Transport = 'udp' | 'tcp';
export type AddressFamily = 'ipv4' | 'ipv6';

/**
 * What produced an answer. Logs and metrics read this instead of re-deriving it
 * (a bounded set: it is a metric label).
 */
export type AnswerKind =
  | 'authoritative' // from the mesh zone or a reverse zone
  | 'not_ready' // mesh name asked before the first registry sync: SERVFAIL + EDE 14
  | 'chaos' // CHAOS-class version.bind
  | 'refused' // policy: outside our zones, CHAOS without version, zone transfers, other classes
  | 'formerr' // malformed request
  | 'notimp' // opcode other than QUERY
  | 'badvers' // EDNS version other than 0
  | 'servfail'; // an internal failure, answered rather than dropped

export const ANSWER_KINDS: readonly AnswerKind[] = ['authoritative', 'not_ready', 'chaos', 'refused', 'formerr', 'notimp', 'badvers', 'servfail'];

export interface QueryContext {
  request: DnsRequest;
  transport: Transport;
  family: AddressFamily;
  clientAddress: string;
}

export interface StageAnswer {
  kind: AnswerKind;
  sections: RecordSections;
  ede?: ExtendedError;
}

/** A stage answers (StageAnswer) or passes the query on (null). Async only where it must be. */
export type StageResult = StageAnswer | null;

export interface PipelineStage {
  readonly name: string;
  resolve(context: QueryContext): StageResult | Promise<StageResult>;
}
