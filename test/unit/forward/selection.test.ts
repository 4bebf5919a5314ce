import { describe, expect, it } from 'vitest';
import { selectOrder, type UpstreamView } from '../../../src/forward/selection.ts';

const up = (latencyMs = 0): UpstreamView => ({ up: true, latencyMs });
const down = (latencyMs = 0): UpstreamView => ({ up: false, latencyMs });

/** A fixed sequence of "random" numbers, then 0.999 (which never triggers exploration). */
function sequence(...values: number[]): () => number {
  return () => values.shift() ?? 0.999;
}

describe('selectOrder', () => {
  it('sequential: configuration order, down upstreams left out while any is up', () => {
    expect(selectOrder('sequential', [up(), up(), up()])).toEqual([0, 1, 2]);
    expect(selectOrder('sequential', [down(), up(), down(), up()])).toEqual([1, 3]);
  });

  it('random: a Fisher–Yates shuffle of the healthy upstreams driven by the random source', () => {
    // i=2: j=floor(0.1*3)=0 → [2,1,0]; i=1: j=floor(0.9*2)=1 → unchanged.
    expect(selectOrder('random', [up(), up(), up()], sequence(0.1, 0.9))).toEqual([2, 1, 0]);
    // i=2: j=2; i=1: j=0 → [1,0,2].
    expect(selectOrder('random', [up(), up(), up()], sequence(0.99, 0.2))).toEqual([1, 0, 2]);
    expect(selectOrder('random', [up(), down(), up()], sequence(0.1))).toEqual([2, 0]);
  });

  it('random: every order shows up over many draws (no upstream is starved)', () => {
    const firsts = new Map<number, number>();
    for (let i = 0; i < 3000; i++) {
      const first = selectOrder('random', [up(), up(), up()])[0]!;
      firsts.set(first, (firsts.get(first) ?? 0) + 1);
    }
    for (const index of [0, 1, 2]) expect(firsts.get(index)).toBeGreaterThan(800);
  });

  it('fastest: lowest smoothed latency first, ties in configuration order, unmeasured (0) first', () => {
    const never = sequence();
    expect(selectOrder('fastest', [up(30), up(5), up(12)], never)).toEqual([1, 2, 0]);
    expect(selectOrder('fastest', [up(7), up(7), up(3)], never)).toEqual([2, 0, 1]);
    expect(selectOrder('fastest', [up(40), up(0)], never)).toEqual([1, 0]);
    expect(selectOrder('fastest', [up(1), down(0), up(2)], never)).toEqual([0, 2]);
  });

  it('fastest: with probability `exploration`, a random other healthy upstream goes first', () => {
    // Sorted [1, 2, 0]; 0.01 < 0.05 explores; floor(0.6 * 2) = 1 → position 2 (upstream 0) to the front.
    expect(selectOrder('fastest', [up(30), up(5), up(12)], sequence(0.01, 0.6))).toEqual([0, 1, 2]);
    // floor(0.2 * 2) = 0 → position 1 (upstream 2) to the front.
    expect(selectOrder('fastest', [up(30), up(5), up(12)], sequence(0.01, 0.2))).toEqual([2, 1, 0]);
    // No exploration above the threshold, nor with a single healthy upstream.
    expect(selectOrder('fastest', [up(30), up(5), up(12)], sequence(0.05))).toEqual([1, 2, 0]);
    expect(selectOrder('fastest', [up(30), down(5)], sequence(0.0, 0.0))).toEqual([0]);
  });

  it('fastest: a penalised upstream still gets about the exploration share of first tries', () => {
    let explored = 0;
    for (let i = 0; i < 20_000; i++) if (selectOrder('fastest', [up(2), up(2000)])[0] === 1) explored++;
    expect(explored / 20_000).toBeGreaterThan(0.035);
    expect(explored / 20_000).toBeLessThan(0.065);
  });

  it('all down: a single upstream, the one the policy prefers', () => {
    expect(selectOrder('sequential', [down(), down(), down()])).toEqual([0]);
    expect(selectOrder('random', [down(), down(), down()], sequence(0.1, 0.9))).toEqual([2]);
    expect(selectOrder('fastest', [down(300), down(20), down(90)], sequence(0.0, 0.0))).toEqual([1]);
  });

  it('no upstreams: an empty order', () => {
    expect(selectOrder('sequential', [])).toEqual([]);
    expect(selectOrder('fastest', [])).toEqual([]);
  });
});
