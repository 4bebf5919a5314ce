// The lifetime of a QueryContext and its request (issue 9: fewer objects per query).
//
// The query handler parses every query into one reused set of objects (context, request, EDNS)
// and passes that context down the pipeline. The rule that makes the reuse safe:
// - a context is valid until the pipeline's answer: while the answer is synchronous the handler
//   assembles the response before it reads the next query (it is never re-entered meanwhile),
//   then reuses the objects;
// - when the pipeline returns a promise (a forward, a stale timer), the objects belong to that
//   query until it is answered, and the handler makes a new set for the queries after it;
// - a stage that keeps the context past a synchronous answer (the cache stage's background
//   prefetch) takes a copy with detachedContext.
// The request's message follows the same rule: the TCP listener hands the handler a view of its
// read buffer (frame-assembler.ts), so a query answered later, and a detached copy, keep their own
// copy of it (query-handler.ts, copyRequest), and whatever a stage keeps of its bytes past the
// call is a copy too (upstreamQueryOf).

import { copyRequest, emptyEdns, emptyRequest, type EdnsInfo } from '../wire/request.ts';
import type { QueryContext } from './types.ts';

/** The objects one query is parsed into: the context, its request, and the EdnsInfo the request may point to. */
export interface QueryScratch {
  context: QueryContext;
  edns: EdnsInfo;
}

export function newQueryScratch(): QueryScratch {
  const context: QueryContext = {
    request: emptyRequest(), transport: 'udp', family: 'ipv4', clientAddress: '', recursionAllowed: false, meshAllowed: false, zoneView: 0,
  };
  return { context, edns: emptyEdns() };
}

/** A copy of `context` with its own request, to keep after the stage has answered. */
export function detachedContext(context: QueryContext): QueryContext {
  return { ...context, request: copyRequest(context.request) };
}
