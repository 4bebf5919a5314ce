// Open TCP connections per client address, so one source cannot take every connection slot of
// a listener (the global cap alone let any address hold them all). Pure bookkeeping; the map
// holds only sources with an open connection, so it is bounded by the listener's global cap.
//
// Keyed by the exact address: containers of one podman/docker IPv6 network share a /64, so
// grouping by prefix would make neighbours share one budget.

export class ConnectionsPerSource {
  private readonly open = new Map<string, number>();

  readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Counts a new connection from `source`; false (nothing counted) when it already has `limit`. */
  tryAcquire(source: string): boolean {
    const count = this.open.get(source) ?? 0;
    if (count >= this.limit) return false;
    this.open.set(source, count + 1);
    return true;
  }

  /** A connection counted by tryAcquire closed. */
  release(source: string): void {
    const count = this.open.get(source);
    if (count === undefined) return;
    if (count <= 1) this.open.delete(source);
    else this.open.set(source, count - 1);
  }

  countOf(source: string): number {
    return this.open.get(source) ?? 0;
  }

  /** Sources with at least one open connection. */
  get sources(): number {
    return this.open.size;
  }
}
