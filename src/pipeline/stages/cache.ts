// The cache around the forwarder (Blocky's caching resolver habit: it wraps the next stage).
// Fresh hits are answered from stored bytes with TTLs counted down; misses go to the forwarder
// and what comes back is stored; when the forwarder fails, an expired entry is answered stale
// (RFC 8767). Before the forwarder so hits never reach it.
//
// RFC 8767 in this stage:
// - §5 client response timer: with a stale entry at hand, the client waits at most
//   staleAnswerTimeoutMs for the upstream, then gets the stale answer (the forward goes on and
//   refreshes the entry);
// - §3: an upstream answer other than NOERROR/NXDOMAIN (SERVFAIL, REFUSED, …) is a failure to
//   refresh: the stale answer is served instead of it, and the failure is remembered;
// - §5 failure recheck timer: while a failure is remembered (the cache's `failureRecheck`), a
//   stale entry is answered at once without another upstream attempt — at most one attempt per
//   recheck interval per entry, whatever the query rate.
// RD=0 clients read the shared cache (an RD=1 answer is complete for them too), but what their
// queries bring back is never stored (AnswerCache.storeForwarded) and they start no refresh.

import type { Logger } from 'pino';
import { EdeCode, Flag, Rcode } from '../../wire/constants.ts';
import { EMPTY_SECTIONS, rcodeOnly } from '../../wire/response.ts';
import { cacheKeyForRequest, type AnswerCache, type CacheEntry } from '../../cache/answer-cache.ts';
import { detachedContext } from '../query-context.ts';
import type { NextStages, PipelineStage, QueryContext, StageAnswer, StageResult } from '../types.ts';

export interface CacheStageOptions {
  cache: AnswerCache;
  /** RFC 8767 §5 client response timer: with a stale entry at hand, answer it after this long. */
  staleAnswerTimeoutMs: number;
  now: () => number;
  logger: Logger;
}

const CACHED_ERROR = { code: EdeCode.CACHED_ERROR, text: 'upstream failed recently' };

/** RFC 8767 §3: only NOERROR and NXDOMAIN refresh an entry; any other rcode is a failure to refresh. */
function refreshFailed(answer: StageAnswer): boolean {
  if (answer.kind === 'upstream_failed') return true;
  if (answer.kind !== 'forwarded') return false;
  const { rcode } = answer.sections;
  return rcode !== Rcode.NOERROR && rcode !== Rcode.NXDOMAIN;
}

export function createCacheStage(options: CacheStageOptions): PipelineStage {
  const { cache, now } = options;
  // One background refresh per key at a time (prefetch and stale refresh share it).
  const refreshing = new Set<string>();

  /** Stores what the rest of the pipeline answered; `refreshingStale`: an error answer is a failure (RFC 8767 §3). */
  const store = (key: string, answer: StageAnswer, refreshingStale: boolean): void => {
    if (answer.forwarded) {
      const outcome = cache.storeForwarded(key, answer.forwarded, now());
      if (refreshingStale && outcome === 'uncacheable_rcode' && answer.forwarded.query.recursionDesired) cache.recordFailure(key, now());
    } else if (answer.kind === 'upstream_failed') {
      cache.recordFailure(key, now());
    }
  };

  const refresh = (key: string, next: NextStages, context: QueryContext): void => {
    if (refreshing.has(key)) return;
    refreshing.add(key);
    Promise.resolve()
      .then(() => next(context))
      .then((answer) => store(key, answer, true))
      .catch((error: unknown) => options.logger.warn({ err: error }, 'background cache refresh failed'))
      .finally(() => refreshing.delete(key));
  };

  // A fresh hit is answered with this one object, rewritten per hit: its sections are already the
  // cache's one entry view, valid until the next lookup, and the query handler assembles the
  // response before it looks anything up again (three objects less per hit).
  const countDown = { subtract: 0 };
  const freshAnswer: StageAnswer = { kind: 'cached', sections: EMPTY_SECTIONS, ttlAdjust: countDown };
  const fresh = (entry: CacheEntry, ageSeconds: number): StageAnswer => {
    // RFC 1035 §3.2.1: TTLs count down while cached (AnswerCache.serve, without its object).
    countDown.subtract = ageSeconds;
    freshAnswer.sections = entry;
    return freshAnswer;
  };

  const stale = (entry: CacheEntry): StageAnswer => {
    const served = cache.serve(entry, { staleTtl: cache.options.staleTtl });
    return { kind: 'stale', sections: entry, ttlAdjust: served.ttlAdjust, ede: served.ede };
  };

  /** Forwards; stores the outcome; falls back to the stale entry when the upstreams fail or are slow. */
  const forward = async (key: string, next: NextStages, context: QueryContext, staleEntry: CacheEntry | null): Promise<StageAnswer> => {
    const pending = Promise.resolve().then(() => next(context));
    if (!staleEntry) {
      const answer = await pending;
      store(key, answer, false);
      return answer;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), options.staleAnswerTimeoutMs);
    });
    const first = await Promise.race([pending, timedOut]);
    clearTimeout(timer);
    if (first === null) {
      // The upstreams are slow: answer stale now; the forward goes on and refreshes the entry.
      void pending.then((answer) => store(key, answer, true), () => undefined);
      return stale(staleEntry);
    }
    store(key, first, true);
    return refreshFailed(first) ? stale(staleEntry) : first;
  };

  return {
    name: 'cache',
    wrapsNext: true,
    resolve(context: QueryContext, next: NextStages): StageResult | Promise<StageAnswer> {
      // Clients without recursion are refused by the forward stage; they never read the cache.
      if (!context.recursionAllowed) return null;
      const key = cacheKeyForRequest(context.request);
      const found = cache.lookup(key, now());
      switch (found.kind) {
        case 'fresh':
          // An RD=0 query would bring back nothing the cache may keep.
          // The refresh outlives this synchronous answer, whose context the handler reuses: it
          // gets a copy (query-context.ts).
          if (found.prefetch && (context.request.flags & Flag.RD) !== 0) refresh(key, next, detachedContext(context));
          return fresh(found.entry, found.ageSeconds);
        case 'servfail':
          return { kind: 'cached_error', sections: rcodeOnly(Rcode.SERVFAIL), ede: CACHED_ERROR };
        case 'stale':
          // Within minTtl, or a refresh failed less than failureRecheck ago (RFC 8767 §5): stale
          // at once, no upstream attempt.
          if (found.wait !== null) return stale(found.entry);
          return forward(key, next, context, found.entry);
        case 'miss':
          return forward(key, next, context, null);
      }
    },
  };
}
