// The cache around the forwarder (Blocky's caching resolver habit: it wraps the next stage).
// Fresh hits are answered from stored bytes with TTLs counted down; misses go to the forwarder
// and what comes back is stored; when the forwarder fails, an expired entry is answered stale
// (RFC 8767) and refreshed in the background. Before the forwarder so hits never reach it.

import type { Logger } from 'pino';
import { EdeCode, Rcode } from '../../wire/constants.ts';
import { rcodeOnly } from '../../wire/response.ts';
import type { IndexedMessage } from '../../wire/upstream-message.ts';
import { cacheKeyForRequest, type AnswerCache, type CacheEntry } from '../../cache/answer-cache.ts';
import type { NextStages, PipelineStage, QueryContext, StageAnswer, StageResult } from '../types.ts';

export interface CacheStageOptions {
  cache: AnswerCache;
  /** RFC 8767 §5 client response timer: with a stale entry at hand, answer it after this long. */
  staleAnswerTimeoutMs: number;
  now: () => number;
  logger: Logger;
}

const CACHED_ERROR = { code: EdeCode.CACHED_ERROR, text: 'upstream failed recently' };

export function createCacheStage(options: CacheStageOptions): PipelineStage {
  const { cache, now } = options;
  // One background refresh per key at a time (prefetch and stale refresh share it).
  const refreshing = new Set<string>();

  const store = (key: string, answer: StageAnswer): void => {
    if (answer.upstream) cache.store(key, answer.upstream as IndexedMessage, now());
    else if (answer.kind === 'upstream_failed') cache.recordFailure(key, now());
  };

  const refresh = (key: string, next: NextStages): void => {
    if (refreshing.has(key)) return;
    refreshing.add(key);
    Promise.resolve()
      .then(next)
      .then((answer) => store(key, answer))
      .catch((error: unknown) => options.logger.warn({ err: error }, 'background cache refresh failed'))
      .finally(() => refreshing.delete(key));
  };

  const fresh = (entry: CacheEntry, ageSeconds: number): StageAnswer => {
    const served = cache.serve(entry, { ageSeconds });
    return { kind: 'cached', sections: entry, ttlAdjust: served.ttlAdjust };
  };

  const stale = (entry: CacheEntry): StageAnswer => {
    const served = cache.serve(entry, { staleTtl: cache.options.staleTtl });
    return { kind: 'stale', sections: entry, ttlAdjust: served.ttlAdjust, ede: served.ede };
  };

  /** Forwards; stores the outcome; falls back to the stale entry when the forwarder fails. */
  const forward = async (key: string, next: NextStages, staleEntry: CacheEntry | null): Promise<StageAnswer> => {
    const pending = Promise.resolve().then(next);
    if (!staleEntry) {
      const answer = await pending;
      store(key, answer);
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
      void pending.then((answer) => store(key, answer), () => undefined);
      return stale(staleEntry);
    }
    store(key, first);
    return first.kind === 'upstream_failed' ? stale(staleEntry) : first;
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
          if (found.prefetch) refresh(key, next);
          return fresh(found.entry, found.ageSeconds);
        case 'servfail':
          return { kind: 'cached_error', sections: rcodeOnly(Rcode.SERVFAIL), ede: CACHED_ERROR };
        case 'stale':
          // A recent failure for this name: answer stale at once (RFC 8767 §5 failure recheck).
          if (found.failedRecently) {
            refresh(key, next);
            return stale(found.entry);
          }
          return forward(key, next, found.entry);
        case 'miss':
          return forward(key, next, null);
      }
    },
  };
}
