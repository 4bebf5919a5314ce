// One request in, one response (or a deliberate drop) out: parse → pipeline → assemble.
// This is the boundary the listeners call and the fuzz test drives: nothing a client sends
// may throw out of it or leave a rejected promise behind.

import type { Logger } from 'pino';
import { Rcode, typeName } from '../wire/constants.ts';
import { EMPTY_MESSAGE, parseRequestInto } from '../wire/request.ts';
import { assembleRejection, assembleResponse, rcodeOnly, responseSizeLimit, type ResponseSettings } from '../wire/response.ts';
import type { QueryMetrics } from './metrics.ts';
import { runPipeline } from './pipeline.ts';
import { newQueryScratch } from './query-context.ts';
import type { AnswerKind, AddressFamily, PipelineStage, QueryContext, StageAnswer, Transport } from './types.ts';

/**
 * Who sent a request. The handler reads it during the call only (QueryContext copies what it
 * needs), so a listener may pass one object per socket and overwrite `address` per datagram.
 */
export interface ClientInfo {
  transport: Transport;
  family: AddressFamily;
  address: string;
  /**
   * Where a synchronous answer of `length` bytes is assembled (the UDP listener's reused buffers,
   * src/listeners/udp-response-buffers.ts): its contents are valid until the listener has sent it.
   * Absent: a new Buffer per answer.
   */
  responseBuffer?: ((length: number) => Buffer) | undefined;
}

export interface QueryHandlerOptions {
  stages: readonly PipelineStage[];
  metrics: QueryMetrics;
  logger: Logger;
  /** Log every query at info level (off by default: it costs throughput). */
  queryLog: boolean;
  udpPayloadSize: number;
}

export type QueryHandler = (message: Buffer, client: ClientInfo) => Buffer | null | Promise<Buffer | null>;

const SERVFAIL_ANSWER: StageAnswer = { kind: 'servfail', sections: rcodeOnly(Rcode.SERVFAIL) };

/**
 * The duration histogram times 1 synchronous answer in DURATION_SAMPLE_EVERY (and every
 * asynchronous one): two performance.now() calls per query were ~3% of busy time at saturation
 * (issue 9 profile), more than the histogram is worth for answers that take microseconds.
 */
const DURATION_SAMPLE_EVERY = 16;
const UNTIMED = -1;

export function createQueryHandler(options: QueryHandlerOptions): QueryHandler {
  const { stages, metrics, logger, udpPayloadSize } = options;
  let rotation = 0;

  let untilNextSample = 1;
  /** A start time for this query if it is one of the timed sample, UNTIMED otherwise. */
  const sampleStart = (): number => {
    if (--untilNextSample > 0) return UNTIMED;
    untilNextSample = DURATION_SAMPLE_EVERY;
    return performance.now();
  };
  const count = (rcode: number, kind: AnswerKind, transport: Transport, startedAt: number): void => {
    if (startedAt === UNTIMED) metrics.responseUntimed(rcode, kind);
    else metrics.response(rcode, kind, transport, (performance.now() - startedAt) / 1000);
  };

  // One settings object, filled per response: assembleResponse reads it and keeps nothing, and
  // the handler is never re-entered while it runs (one object less per query; issue 9).
  const settings: ResponseSettings = { recursionAvailable: false, udpPayloadSize, sizeLimit: 0, rotation: 0, ede: undefined, ttlAdjust: undefined, responseBuffer: undefined };
  const finish = (context: QueryContext, answer: StageAnswer, startedAt: number, responseBuffer: ClientInfo['responseBuffer']): Buffer | null => {
    // A stage chose silence (rate limiting over UDP): no response, counted as a drop.
    if (answer.kind === 'dropped') {
      metrics.dropped('rate_limited');
      return null;
    }
    const { request, transport } = context;
    settings.recursionAvailable = context.recursionAllowed;
    settings.sizeLimit = responseSizeLimit(request.edns, transport, udpPayloadSize);
    settings.rotation = rotation++;
    settings.ede = answer.ede;
    settings.ttlAdjust = answer.ttlAdjust;
    settings.responseBuffer = responseBuffer;
    const response = assembleResponse(request, answer.sections, settings);
    count(answer.sections.rcode, answer.kind, transport, startedAt);
    if (options.queryLog) logQuery(logger, context, answer.kind, answer.sections.rcode, response.length);
    return response;
  };

  /** An asynchronous answer: every one is timed, an unsampled one from here (missing only the parse). */
  const finishLater = (context: QueryContext, pending: Promise<StageAnswer>, startedAt: number): Promise<Buffer | null> => {
    const timedFrom = startedAt === UNTIMED ? performance.now() : startedAt;
    return pending.then(
      (answer) => finish(context, answer, timedFrom, undefined),
      (error: unknown) => {
        logger.error({ err: error, qname: context.request.qname }, 'pipeline stage failed; answering SERVFAIL');
        return finish(context, SERVFAIL_ANSWER, timedFrom, undefined);
      },
    );
  };

  // The objects each query is parsed into, reused while answers are synchronous and handed to a
  // query whose answer is not (see query-context.ts).
  let scratch = newQueryScratch();

  return (message, client) => {
    const startedAt = sampleStart();
    const { context, edns } = scratch;
    const request = context.request;
    const rejection = parseRequestInto(message, request, edns);
    if (rejection !== null) {
      if (rejection.action === 'drop') {
        metrics.dropped(rejection.reason);
        return null;
      }
      const kind: AnswerKind = rejection.reason;
      const settings: ResponseSettings = {
        recursionAvailable: false,
        udpPayloadSize,
        sizeLimit: responseSizeLimit(rejection.edns, client.transport, udpPayloadSize),
        rotation: 0,
      };
      count(rejection.rcode, kind, client.transport, startedAt);
      return assembleRejection(message, rejection, settings);
    }
    context.transport = client.transport;
    context.family = client.family;
    context.clientAddress = client.address;
    context.recursionAllowed = false;
    context.meshAllowed = false;
    context.zoneView = 0;
    metrics.request(client.transport, client.family, request.qtype);
    let result: StageAnswer | Promise<StageAnswer>;
    try {
      result = runPipeline(stages, context);
    } catch (error) {
      logger.error({ err: error, qname: request.qname }, 'pipeline stage threw; answering SERVFAIL');
      result = SERVFAIL_ANSWER;
    }
    if (result instanceof Promise) {
      // The context, request and EDNS now belong to this query until it is answered.
      scratch = newQueryScratch();
      // So does the message, which the listener may have handed out as a view of its read buffer
      // (TCP: frame-assembler.ts), valid for this turn only: a copy, not a pinned 64 KiB chunk.
      if (request.message === message) request.message = Buffer.from(message);
      return finishLater(context, result, startedAt);
    }
    const response = finish(context, result, startedAt, client.responseBuffer);
    // The reused request must not keep this datagram: a long-lived object pointing at a young
    // Buffer keeps it and its ArrayBuffer alive through the next scavenge, then promoted, one
    // per scavenge (issue 9 item 3).
    request.message = EMPTY_MESSAGE;
    return response;
  };
}

function logQuery(logger: Logger, context: QueryContext, kind: AnswerKind, rcode: number, size: number): void {
  logger.info(
    { client: context.clientAddress, proto: context.transport, qname: context.request.qname, qtype: typeName(context.request.qtype), kind, rcode, size },
    'query',
  );
}
