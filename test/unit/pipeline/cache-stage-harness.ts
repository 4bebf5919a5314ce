// A harness for the cache stage alone: a real AnswerCache, a fake clock, and a scripted `next`
// standing in for the forward stage. Used by the stage's unit tests and the TTL property test.

import pino from 'pino';
import { AnswerCache, type AnswerCacheOptions } from '../../../src/cache/answer-cache.ts';
import { createCacheStage } from '../../../src/pipeline/stages/cache.ts';
import type { NextStages, PipelineStage, QueryContext, StageAnswer } from '../../../src/pipeline/types.ts';
import { Flag } from '../../../src/wire/constants.ts';
import type { DnsRequest } from '../../../src/wire/request.ts';
import { assembleResponse } from '../../../src/wire/response.ts';
import type { IndexedMessage } from '../../../src/wire/upstream-message.ts';
import { upstreamQuery } from '../forward/fake-upstream.ts';
import { settingsFor, T0 } from '../cache/fixtures.ts';

export interface StageHarness {
  stage: PipelineStage;
  cache: AnswerCache;
  clock: { now: number };
  /** Calls of `next` so far (each one is an upstream forward). */
  forwards: () => number;
  /** Resolves `req` through the stage and assembles the client's response bytes. */
  ask: (req: DnsRequest) => Promise<{ answer: StageAnswer; response: Buffer }>;
}

/** A forwarded answer as the forward stage returns it for `req`. */
export function forwardedAnswer(req: DnsRequest, message: IndexedMessage): StageAnswer {
  const query = upstreamQuery(req.qname, { qtype: req.qtype, recursionDesired: (req.flags & Flag.RD) !== 0 });
  return { kind: 'forwarded', sections: message, forwarded: { query, message } };
}

export function stageHarness(reply: (req: DnsRequest) => StageAnswer | Promise<StageAnswer>, options: Partial<AnswerCacheOptions> = {}, staleAnswerTimeoutMs = 1_800): StageHarness {
  const clock = { now: T0 };
  const cache = new AnswerCache(options);
  const stage = createCacheStage({ cache, staleAnswerTimeoutMs, now: () => clock.now, logger: pino({ level: 'silent' }) });
  let forwards = 0;
  const ask = async (req: DnsRequest) => {
    const context: QueryContext = { request: req, transport: 'udp', family: 'ipv4', clientAddress: '127.0.0.1', recursionAllowed: true, meshAllowed: true, zoneView: 0 };
    const next: NextStages = () => {
      forwards++;
      return reply(req);
    };
    const result = stage.resolve(context, next);
    const answer = (result instanceof Promise ? await result : result)!;
    // Assembled at once, as the query handler does: a fresh hit's sections point into the cache's
    // slab, valid until the cache next stores (AnswerCache CacheEntry).
    const response = assembleResponse(req, answer.sections, { ...settingsFor(req), ede: answer.ede, ttlAdjust: answer.ttlAdjust });
    // Let background refreshes (prefetch) store what they got before the clock moves on.
    await new Promise((resolve) => setImmediate(resolve));
    return { answer, response };
  };
  return { stage, cache, clock, forwards: () => forwards, ask };
}

