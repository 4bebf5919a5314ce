// The contract between the query handler and the pipeline stages.

import type { ForwardedAnswer } from '../forward/types.ts';
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
  | 'servfail' // an internal failure, answered rather than dropped
  | 'local' // special-use names and private reverse zones answered without forwarding
  | 'cached' // from the cache, fresh
  | 'stale' // from the cache, expired, because upstreams failed (RFC 8767)
  | 'cached_error' // a recent upstream failure, remembered for a few seconds
  | 'forwarded' // relayed from an upstream
  | 'autopath' // a search-expanded name: CNAME to the bare name plus its resolution (names.autopath)
  | 'upstream_failed' // every upstream failed within the deadline: SERVFAIL + EDE
  | 'rate_limited' // over the client's rate limit: TC=1 (UDP slip) or REFUSED (TCP)
  | 'dropped'; // over the client's rate limit over UDP: nothing is sent (query-handler returns null)

export const ANSWER_KINDS: readonly AnswerKind[] = [
  'authoritative', 'not_ready', 'chaos', 'refused', 'formerr', 'notimp', 'badvers', 'servfail',
  'local', 'cached', 'stale', 'cached_error', 'forwarded', 'upstream_failed', 'autopath', 'rate_limited',
];

/**
 * One query on its way down the pipeline. The handler reuses it (and its request) from one
 * synchronous answer to the next: a stage may keep it past a synchronous answer only as a copy
 * (detachedContext); one that answers with a promise owns it until then (query-context.ts).
 */
export interface QueryContext {
  request: DnsRequest;
  transport: Transport;
  family: AddressFamily;
  clientAddress: string;
  /** Client views, decided by the access-control stage: what this client may be answered. */
  recursionAllowed: boolean;
  meshAllowed: boolean;
  /**
   * Which zone set of the mesh this client sees (views, issue 8 item 5), decided once per query
   * by the access-control stage: an index for MeshZoneSource.current, or NO_VIEW (-1): refused.
   * 0 without views.
   */
  zoneView: number;
}

export interface StageAnswer {
  kind: AnswerKind;
  sections: RecordSections;
  ede?: ExtendedError;
  /** How to rewrite the TTLs listed in `sections.ttlOffsets` (cached answers count down). */
  ttlAdjust?: TtlAdjust;
  /**
   * A forwarded answer with the query that got it, for the cache stage to store (the typed seam:
   * the cache reads RD, DO and CD from the query that was actually sent).
   */
  forwarded?: ForwardedAnswer;
}

/** Cached answers: subtract the time spent in the cache; stale ones: one fixed TTL (RFC 8767 §4). */
export type TtlAdjust = { subtract: number } | { set: number };

/** A stage answers (StageAnswer) or passes the query on (null). Async only where it must be. */
export type StageResult = StageAnswer | null;

/**
 * The rest of the pipeline after a stage, for stages that wrap it (the cache wraps the forwarder),
 * called with the query's context: one function per stage, not a closure per query.
 */
export type NextStages = (context: QueryContext) => StageAnswer | Promise<StageAnswer>;

export interface PipelineStage {
  readonly name: string;
  /** Set by stages that call `next` themselves to post-process the rest of the pipeline. */
  readonly wrapsNext?: boolean;
  resolve(context: QueryContext, next: NextStages): StageResult | Promise<StageResult>;
}
