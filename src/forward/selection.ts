// Which upstream to try first, second, third: pure functions over a snapshot of upstream health,
// with the randomness passed in, so every policy is tested without sockets or clocks.
//
// Policies:
// - `sequential`: configuration order (dnsmasq --strict-order, CoreDNS `policy sequential`,
//   Blocky `strict`). For upstreams that are not interchangeable: a primary and a fallback.
// - `random`: a uniform shuffle (CoreDNS's default `policy random`), spreading load evenly.
// - `fastest` (our default): lowest smoothed latency first (EWMA, see upstream.ts), where a
//   failure counts as a very slow answer, so a failing upstream sinks and climbs back as it
//   answers again. With probability `exploration` a random other healthy upstream goes first, so
//   an upstream that was slow or just recovered keeps getting a trickle of traffic and its score
//   can improve (without it, a penalised score would never be re-measured).
//
// Why `fastest` by default: in containers the upstreams are typically the host's or the cloud's
// resolvers, with different distances and loads. `random` sends 1/n of all queries to the slowest
// one, and every one of them waits for it; `sequential` puts all load on the first and only learns
// it is bad after timeouts. `fastest` gives each query the best measured upstream while the
// exploration share (5 %) keeps the measurements fresh — the idea behind Blocky's default
// `parallel_best`, without doubling upstream traffic by racing two upstreams per query.
//
// Common to all policies: upstreams that are down are left out while any upstream is up. When
// every upstream is down, the order is a single upstream (the policy's first choice), tried once:
// a one-upstream setup keeps working after a blip, without multiplying tries against dead servers.

import type { SelectionPolicy } from './types.ts';

export interface UpstreamView {
  up: boolean;
  /** Smoothed latency in ms (0 before the first measurement, which puts unmeasured upstreams first). */
  latencyMs: number;
}

/** Share of queries for which `fastest` explores a random other healthy upstream first. */
export const DEFAULT_EXPLORATION = 0.05;

/**
 * Indexes into `upstreams`, in the order they should be tried. Empty only when `upstreams` is.
 * `random` returns numbers in [0, 1) (Math.random's contract).
 */
export function selectOrder(
  policy: SelectionPolicy,
  upstreams: readonly UpstreamView[],
  random: () => number = Math.random,
  exploration = DEFAULT_EXPLORATION,
): number[] {
  const healthy: number[] = [];
  for (let index = 0; index < upstreams.length; index++) if (upstreams[index]!.up) healthy.push(index);
  if (healthy.length > 0) return orderBy(policy, healthy, upstreams, random, exploration);
  if (upstreams.length === 0) return [];
  const all = upstreams.map((_, index) => index);
  // Every upstream is down: one try, at the upstream the policy likes best, without exploration.
  return [orderBy(policy, all, upstreams, random, 0)[0]!];
}

function orderBy(policy: SelectionPolicy, indexes: number[], upstreams: readonly UpstreamView[], random: () => number, exploration: number): number[] {
  switch (policy) {
    case 'sequential':
      return indexes;
    case 'random':
      return shuffle(indexes, random);
    case 'fastest': {
      // Array.prototype.sort is stable: equal latencies keep configuration order.
      const sorted = [...indexes].sort((a, b) => upstreams[a]!.latencyMs - upstreams[b]!.latencyMs);
      if (sorted.length > 1 && exploration > 0 && random() < exploration) {
        const pick = 1 + Math.min(sorted.length - 2, Math.floor(random() * (sorted.length - 1)));
        const [explored] = sorted.splice(pick, 1);
        sorted.unshift(explored!);
      }
      return sorted;
    }
  }
}

/** Fisher–Yates, on a copy. */
function shuffle(indexes: readonly number[], random: () => number): number[] {
  const out = [...indexes];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
