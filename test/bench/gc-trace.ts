// GC pauses from Node's --trace-gc output, for the bench (run.ts --trace-gc): how many scavenges
// and full collections a measured run had, how long they paused the server in total and at most.
// The tail of a Node server at a fixed rate is mostly these pauses (issue 9 item 3).

export interface GcPauses {
  scavenges: number;
  scavengeMs: number;
  longestScavengeMs: number;
  /** Mark-compact and the like: the full collections. */
  other: number;
  otherMs: number;
  longestOtherMs: number;
}

/** Sums the pauses in --trace-gc lines (`… ms: Scavenge 4.8 (5.8) -> 3.9 (6.8) MB, pooled: 0 MB, 0.70 / 0.00 ms …`). */
export function gcPauses(log: string): GcPauses {
  const pauses: GcPauses = { scavenges: 0, scavengeMs: 0, longestScavengeMs: 0, other: 0, otherMs: 0, longestOtherMs: 0 };
  for (const match of log.matchAll(/ ms: ([A-Za-z-]+(?: \([a-z]+\))?)[^\n]*? MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms/g)) {
    const ms = Number(match[2]);
    if (match[1]!.startsWith('Scavenge')) {
      pauses.scavenges++;
      pauses.scavengeMs += ms;
      pauses.longestScavengeMs = Math.max(pauses.longestScavengeMs, ms);
    } else {
      pauses.other++;
      pauses.otherMs += ms;
      pauses.longestOtherMs = Math.max(pauses.longestOtherMs, ms);
    }
  }
  return pauses;
}
