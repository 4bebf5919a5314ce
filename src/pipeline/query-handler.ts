// One request in, one response (or a deliberate drop) out: parse → pipeline → assemble.
// This is the boundary the listeners call and the fuzz test drives: nothing a client sends
// may throw out of it or leave a rejected promise behind.

import type { Logger } from 'pino';
import { Rcode, typeName } from '../wire/constants.ts';
import { parseRequest } from '../wire/request.ts';
import { assembleRejection, assembleResponse, rcodeOnly, responseSizeLimit, type ResponseSettings } from '../wire/response.ts';
import type { QueryMetrics } from './metrics.ts';
import { runPipeline } from './pipeline.ts';
import type { AnswerKind, AddressFamily, PipelineStage, QueryContext, StageAnswer, Transport } from './types.ts';

export interface ClientInfo {
  transport: Transport;
  family: AddressFamily;
  address: string;
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

export function createQueryHandler(options: QueryHandlerOptions): QueryHandler {
  const { stages, metrics, logger, udpPayloadSize } = options;
  let rotation = 0;

  const finish = (context: QueryContext, answer: StageAnswer, startedAt: number): Buffer | null => {
    // A stage chose silence (rate limiting over UDP): no response, counted as a drop.
    if (answer.kind === 'dropped') {
      metrics.dropped('rate_limited');
      return null;
    }
    const { request, transport } = context;
    const settings: ResponseSettings = {
      recursionAvailable: context.recursionAllowed,
      udpPayloadSize,
      sizeLimit: responseSizeLimit(request.edns, transport, udpPayloadSize),
      rotation: rotation++,
      ede: answer.ede,
      ttlAdjust: answer.ttlAdjust,
    };
    const response = assembleResponse(request, answer.sections, settings);
    metrics.response(answer.sections.rcode, answer.kind, transport, (performance.now() - startedAt) / 1000);
    if (options.queryLog) logQuery(logger, context, answer.kind, answer.sections.rcode, response.length);
    return response;
  };

  return (message, client) => {
    const startedAt = performance.now();
    const parsed = parseRequest(message);
    if (!parsed.ok) {
      if (parsed.action === 'drop') {
        metrics.dropped(parsed.reason);
        return null;
      }
      const kind: AnswerKind = parsed.reason;
      const settings: ResponseSettings = {
        recursionAvailable: false,
        udpPayloadSize,
        sizeLimit: responseSizeLimit(parsed.edns, client.transport, udpPayloadSize),
        rotation: 0,
      };
      metrics.response(parsed.rcode, kind, client.transport, (performance.now() - startedAt) / 1000);
      return assembleRejection(message, parsed, settings);
    }
    const context: QueryContext = {
      request: parsed.request, transport: client.transport, family: client.family, clientAddress: client.address,
      recursionAllowed: false, meshAllowed: false, zoneView: 0,
    };
    metrics.request(client.transport, client.family, parsed.request.qtype);
    let result: StageAnswer | Promise<StageAnswer>;
    try {
      result = runPipeline(stages, context);
    } catch (error) {
      logger.error({ err: error, qname: parsed.request.qname }, 'pipeline stage threw; answering SERVFAIL');
      result = SERVFAIL_ANSWER;
    }
    if (result instanceof Promise) {
      return result.then(
        (answer) => finish(context, answer, startedAt),
        (error: unknown) => {
          logger.error({ err: error, qname: parsed.request.qname }, 'pipeline stage failed; answering SERVFAIL');
          return finish(context, SERVFAIL_ANSWER, startedAt);
        },
      );
    }
    return finish(context, result, startedAt);
  };
}

function logQuery(logger: Logger, context: QueryContext, kind: AnswerKind, rcode: number, size: number): void {
  logger.info(
    { client: context.clientAddress, proto: context.transport, qname: context.request.qname, qtype: typeName(context.request.qtype), kind, rcode, size },
    'query',
  );
}
