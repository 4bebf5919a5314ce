// Matches the slow answers of a tail-client.c run with what the server's main thread was doing
// (tail-probe.ts records), and says for each slow answer where its time went (issue 9 item 3).
//
//   node test/bench/tail-analyze.ts CLIENT_FILE [PROBE_FILE] [--slow-us N]
//
// Per answered query: send s, the server's callback for it [h0, h1] (matched by ID, first callback
// at or after s), the answer's arrival r. Its latency splits into queued (h0 - s: kernel queue
// while the loop did something else), handled (h1 - h0) and returned (r - h1: send path, loopback,
// client wake-up). A slow answer (latency > --slow-us, default 250 µs, ~2x dnsmasq's p99) is put
// down to:
//   gc        the loop sat in a GC pause while the query was queued, or was still draining the
//             queries that piled up behind one (busy without a gap > 30 µs from the pause to h0, up to 50 ms back);
//   stall     queued while the main thread ran neither a callback nor a GC, or behind a backlog that
//             built up in such a gap (> 150 µs): other JS (timers, promise jobs), Node's native
//             receive path, or the process not scheduled at all (compare the run-queue wait);
//   backlog   queued behind other queries' callbacks, no GC and no stall in that busy stretch;
//   handler   its own callback took most of the time;
//   return    most of the time was after the callback (send path, loopback, the client).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'slow-us': { type: 'string' }, json: { type: 'boolean' } } });
const slowNs = Number(values['slow-us'] ?? 250) * 1000;
const [clientFile, probeFile] = positionals;
if (!clientFile) throw new Error('usage: tail-analyze.ts CLIENT_FILE [PROBE_FILE] [--slow-us N]');

const sent: number[] = [];
const latency: number[] = [];
for (const line of readFileSync(clientFile, 'utf8').split('\n')) {
  if (!line) continue;
  const [s, l] = line.split(' ');
  sent.push(Number(s));
  latency.push(Number(l));
}
const answered = latency.filter((l) => l >= 0).sort((a, b) => a - b);
const pct = (p: number) => answered[Math.min(answered.length - 1, Math.floor((p / 100) * answered.length))]! / 1e6;
const runNs = sent[sent.length - 1]! - sent[0]!;
const summary: Record<string, unknown> = {
  queries: sent.length,
  lost: sent.length - answered.length,
  p50: pct(50), p90: pct(90), p99: pct(99), 'p99.9': pct(99.9), max: answered[answered.length - 1]! / 1e6,
  slowUs: slowNs / 1000,
  slow: answered.filter((l) => l > slowNs).length,
};

if (probeFile) {
  const byId = new Map<number, number[]>();
  const mStart: number[] = [];
  const mEnd: number[] = [];
  const gcs: { kind: number; start: number; end: number }[] = [];
  let cpuWindow: number[] | undefined;
  for (const line of readFileSync(probeFile, 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'M') {
      const index = mStart.length;
      mStart.push(Number(f[2]));
      mEnd.push(Number(f[3]));
      const id = Number(f[1]);
      let list = byId.get(id);
      if (!list) byId.set(id, (list = []));
      list.push(index);
    } else if (f[0] === 'G') gcs.push({ kind: Number(f[1]), start: Number(f[2]), end: Number(f[3]) });
    else if (f[0] === 'C') cpuWindow = f.slice(1).map(Number);
  }
  gcs.sort((a, b) => a.start - b.start);
  const inRun = gcs.filter((g) => g.start >= sent[0]! && g.start <= sent[sent.length - 1]!);
  const gcNs = inRun.reduce((a, g) => a + g.end - g.start, 0);
  summary['gcPauses'] = inRun.length;
  summary['scavenges'] = inRun.filter((g) => g.kind === 1).length;
  summary['gcMs'] = gcNs / 1e6;
  summary['gcLongestMs'] = Math.max(0, ...inRun.map((g) => g.end - g.start)) / 1e6;
  summary['gcTimeShare%'] = (100 * gcNs) / runNs;
  const sortedPauses = inRun.map((g) => (g.end - g.start) / 1e3).sort((a, b) => a - b);
  summary['gcPauseUs p50/p90/max'] = [sortedPauses[Math.floor(sortedPauses.length / 2)], sortedPauses[Math.floor(sortedPauses.length * 0.9)], sortedPauses[sortedPauses.length - 1]].map((x) => Math.round(x ?? 0));

  // Busy intervals of the main thread (callbacks and GC pauses), time-ordered, for the walk back.
  const busy: { start: number; end: number; gc: boolean }[] = [
    ...mStart.map((s, i) => ({ start: s, end: mEnd[i]!, gc: false })),
    ...gcs.map((g) => ({ start: g.start, end: g.end, gc: true })),
  ].sort((a, b) => a.start - b.start);
  const busyStarts = busy.map((b) => b.start);
  if (cpuWindow) {
    // Main-thread CPU over the probe's window against the time covered by callbacks and pauses.
    const [from, to, user, system] = cpuWindow as [number, number, number, number];
    let covered = 0;
    let reach = from;
    for (const b of busy) {
      const start = Math.max(b.start, reach, from);
      const end = Math.min(b.end, to);
      if (end > start) covered += end - start;
      reach = Math.max(reach, b.end);
    }
    summary['thread busy% (cpu / callbacks+gc / elsewhere)'] = [user + system, covered, user + system - covered].map((x) => Math.round((1000 * x) / (to - from)) / 10);
  }
  const lastAtOrBefore = (t: number): number => {
    let lo = 0;
    let hi = busyStarts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (busyStarts[mid]! <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  };

  // Gaps > 150 µs in which the thread ran no callback and no GC although queries kept arriving
  // (every 50 µs at 20k qps): their total is what the run-queue wait (tail-run.sh) can explain.
  {
    let reach = -Infinity;
    let stalls = 0;
    let stallNs = 0;
    for (const b of busy) {
      if (b.start >= sent[0]! && b.start <= sent[sent.length - 1]! && b.start - reach > 150_000) {
        stalls++;
        stallNs += b.start - reach;
      }
      reach = Math.max(reach, b.end);
    }
    summary['stalls > 150 µs (count, ms)'] = [stalls, Math.round(stallNs / 1e4) / 100];
  }
  const pointer = new Map<number, number>();
  const causes: Record<string, number> = { gc: 0, stall: 0, backlog: 0, handler: 0, return: 0, unmatched: 0 };
  const parts = { queued: 0, handled: 0, returned: 0 };
  const gapExamples: string[] = [];
  for (let i = 0; i < sent.length; i++) {
    const l = latency[i]!;
    if (l < 0) continue;
    const s = sent[i]!;
    const list = byId.get(i & 0xffff);
    let k = pointer.get(i & 0xffff) ?? 0;
    // The first callback for this ID that started after the send (50 µs for clock-read skew).
    while (list && k < list.length && mStart[list[k]!]! < s - 50_000) k++;
    pointer.set(i & 0xffff, k + 1);
    if (l <= slowNs) continue;
    if (!list || k >= list.length) { causes['unmatched']!++; continue; }
    const m = list[k]!;
    const h0 = mStart[m]!;
    const h1 = mEnd[m]!;
    const queued = h0 - s;
    const handled = h1 - h0;
    const returned = s + l - h1;
    parts.queued += queued;
    parts.handled += handled;
    parts.returned += returned;
    if (handled >= queued && handled >= returned) {
      // A scavenge triggered by this query's own allocation runs inside its callback.
      causes[gcs.some((g) => g.start < h1 && g.end > h0) ? 'gc' : 'handler']!++;
      continue;
    }
    if (returned >= queued) { causes['return']!++; continue; }
    // Walk back from h0 through the busy stretch (gaps <= 30 µs between callbacks and pauses)
    // that ends at this callback, up to 50 ms: a GC pause in it means the query waited for the
    // pause or for the queries that piled up behind it; otherwise the gap before the stretch (or
    // within [s, h0]) is what the queue built up in.
    let j = lastAtOrBefore(h0 - 1);
    let edge = h0;
    let sawGc = false;
    let gapNs = 0;
    let gapBefore = 0;
    while (j >= 0) {
      const b = busy[j]!;
      if (b.end < edge - 30_000) {
        // [b.end, edge]: the thread ran neither a callback nor a GC.
        if (edge > s) gapNs += edge - Math.max(b.end, s);
        if (b.end < s) { gapBefore = edge - b.end; edge = Math.max(edge, s); break; }
      }
      if (b.gc && b.end > s - 50_000_000) sawGc = true;
      edge = Math.min(edge, b.start);
      if (edge < s - 50_000_000) break;
      j--;
    }
    if (j < 0 && edge > s) gapNs += edge - s;
    if (sawGc) causes['gc']!++;
    else if (gapNs >= queued / 2 || gapBefore > 150_000) {
      causes['stall']!++;
      if (gapExamples.length < 5) gapExamples.push(`query ${i}: latency ${(l / 1e3).toFixed(0)} µs, queued ${(queued / 1e3).toFixed(0)} µs, ${(gapNs / 1e3).toFixed(0)} µs of it with the thread in no callback and no GC; gap before the busy stretch ${(gapBefore / 1e3).toFixed(0)} µs`);
    } else causes['backlog']!++;
  }
  const slow = Object.values(causes).reduce((a, b) => a + b, 0);
  summary['causes'] = causes;
  summary['slowMeanUs queued/handled/returned'] = [parts.queued, parts.handled, parts.returned].map((x) => Math.round(x / Math.max(1, slow - causes['unmatched']!) / 1e3));
  if (gapExamples.length) summary['gapExamples'] = gapExamples;
}
console.log(JSON.stringify(summary, null, values.json ? 0 : 2));
