// Token buckets per client prefix, in a table of bounded size. Pure: the clock is a number the
// caller passes (ms), so the math is tested without timers.
//
// A bucket holds up to `burst` tokens and gains `ratePerSecond` per second; a query takes one.
// UDP and TCP have a counter each in the same entry: a client that was told to retry over TCP
// (the TC=1 "slip") finds its TCP allowance intact, since what emptied its UDP one (a flood with
// its address, possibly spoofed) cannot have come over TCP, whose handshake proves the source.
//
// The table holds at most `maxClients` entries, in least-recently-used order (a Map keeps
// insertion order; an entry is moved to the end when used, at most once per `touchAfterMs`, so a
// busy client costs one Map lookup per query and no allocation). When full, the least recently
// used entry is evicted. Why that is safe under a spoofed-source flood:
// - eviction gives the evicted client a *full* bucket when it comes back: it is never harmed,
//   only forgiven. An attacker gains nothing by evicting real clients;
// - an attacker cannot evict its own limited bucket while using it: an entry in use is the most
//   recent, and the flood's one-off addresses are the oldest. To lose its bucket it must stop
//   sending from that address for as long as `maxClients` new addresses take to arrive — with
//   the defaults (65,536 entries) that is over 2 s even at 30,000 new addresses a second, by
//   which time its bucket (burst 2,000 at 1,000/s) has refilled anyway;
// - exemption is decided from the address by the allow-list, never from the table, so no flood
//   can make an address exempt;
// - a full table never refuses a new client (an "overflow" bucket shared by all newcomers would
//   let the attacker starve them all cheaply).
// Memory: one Map entry + one small object per client, ~150 B; 65,536 entries ≈ 10 MB at most.

export type LimitVerdict = 'allow' | 'deny';

export interface ClientBucketOptions {
  ratePerSecond: number;
  burst: number;
  maxClients: number;
  /** How stale an entry's LRU position may get before a hit moves it to the end. */
  touchAfterMs?: number;
}

/** One client prefix. Mutated in place: no allocation per query for a known client. */
export class ClientBucket {
  udpTokens: number;
  tcpTokens: number;
  /** When the tokens were last topped up, ms. */
  updatedAt: number;
  /** When the entry last moved to the LRU end, ms. */
  touchedAt: number;
  /** Over-limit UDP queries since the bucket was created: every `slip`-th is answered TC=1. */
  denied = 0;
  readonly exempt: boolean;

  constructor(burst: number, now: number, exempt: boolean) {
    this.udpTokens = burst;
    this.tcpTokens = burst;
    this.updatedAt = now;
    this.touchedAt = now;
    this.exempt = exempt;
  }
}

export class ClientBucketTable {
  readonly options: Required<ClientBucketOptions>;
  private readonly buckets = new Map<string, ClientBucket>();
  private readonly perMs: number;
  /** Entries evicted to make room, since start. */
  evictions = 0;

  constructor(options: ClientBucketOptions) {
    this.options = { touchAfterMs: 1_000, ...options };
    this.perMs = options.ratePerSecond / 1000;
  }

  get size(): number {
    return this.buckets.size;
  }

  /**
   * The bucket of `key`, created (full) when new; `isExempt(address)` is asked only for a new
   * key (a function and its argument rather than a closure: no allocation per query).
   * A full table evicts its least recently used entry first.
   */
  bucket(key: string, now: number, isExempt: (address: string) => boolean, address: string): ClientBucket {
    let bucket = this.buckets.get(key);
    if (bucket !== undefined) {
      if (now - bucket.touchedAt >= this.options.touchAfterMs) {
        bucket.touchedAt = now;
        this.buckets.delete(key);
        this.buckets.set(key, bucket);
      }
      return bucket;
    }
    if (this.buckets.size >= this.options.maxClients) {
      // The first key in a Map is the least recently inserted or moved: the LRU entry.
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
      this.evictions++;
    }
    bucket = new ClientBucket(this.options.burst, now, isExempt(address));
    this.buckets.set(key, bucket);
    return bucket;
  }

  /** Takes one token for a query over `transport`; 'deny' when the bucket is empty. */
  take(bucket: ClientBucket, tcp: boolean, now: number): LimitVerdict {
    if (bucket.exempt) return 'allow';
    const elapsed = now - bucket.updatedAt;
    if (elapsed > 0) {
      const gained = elapsed * this.perMs;
      const { burst } = this.options;
      bucket.udpTokens = Math.min(burst, bucket.udpTokens + gained);
      bucket.tcpTokens = Math.min(burst, bucket.tcpTokens + gained);
      bucket.updatedAt = now;
    }
    if (tcp) {
      if (bucket.tcpTokens < 1) return 'deny';
      bucket.tcpTokens -= 1;
      return 'allow';
    }
    if (bucket.udpTokens < 1) return 'deny';
    bucket.udpTokens -= 1;
    return 'allow';
  }
}
