// The mesh zone's owner names for the incremental zone (incremental.ts), with each agent name's
// service names answered from the name's own node instead of held:
//
//   _mcp._tcp.<name>   SRV of every instance serving <name> (with its id label won)
//   _tcp.<name>        the empty non-terminal above it
//
// Memory (issue 9 item 4): held, these were per agent a derived node (56 B), a pinned node (48 B),
// two Map entries (~44 B each), the owner string (~46 B) and a sliced string (~31 B): ~2.7 MiB at
// 10,000 agents in a heap snapshot of the server (npm run bench:memory -- --snapshot). Here the
// name's node carries how many SRV records its service name has (`services`), and a lookup of
// either name builds a small node from it.
//
// The Map's whole read side (get, has, size, iteration) shows the service names as if held, so
// every reader (answer.ts, autopath, the differential tests' comparison with compileZone) sees
// what compileZone holds. The incremental zone writes and reads its own nodes through heldNode(),
// which never answers a service name.

import { RRType } from '../wire/constants.ts';
import { NodesWithUnheldNames } from './unheld-names.ts';
import { OwnerNode, ZoneNode, type RRsetList } from './zone.ts';

const MCP_PREFIX = '_mcp._tcp.';
const TCP_PREFIX = '_tcp.';

/** What a held node at an agent name says about its service name. */
export interface ServiceBase {
  /** SRV records at `_mcp._tcp.<name>` (0: the service name does not exist). */
  services: number;
}

/** Builds the RRsets of `_mcp._tcp.<baseName>` from the node at `baseName`. */
export type ServiceRRsets = (baseName: string, base: OwnerNode & ServiceBase) => RRsetList;

/** `_mcp._tcp.<name>`: its SRV RRset, built from the name's node when asked. */
class ServiceNode extends OwnerNode {
  readonly #owner: string;
  readonly #baseName: string;
  readonly #base: OwnerNode & ServiceBase;
  readonly #build: ServiceRRsets;

  constructor(owner: string, baseName: string, base: OwnerNode & ServiceBase, build: ServiceRRsets) {
    super();
    this.#owner = owner;
    this.#baseName = baseName;
    this.#base = base;
    this.#build = build;
  }

  rrsets(): RRsetList {
    return this.#build(this.#baseName, this.#base);
  }

  override get ownerName(): string {
    return this.#owner;
  }

  override get size(): number {
    return 1;
  }

  override has(type: number): boolean {
    return type === RRType.SRV;
  }
}

/** `_tcp.<name>` above a service name: an empty non-terminal (RFC 8020), one object for all. */
const SERVICE_PARENT = new ZoneNode();

export class ServiceNodes extends NodesWithUnheldNames {
  readonly #build: ServiceRRsets;
  /** Agent names whose service name exists (`services` > 0). */
  #serviceNames = 0;
  /** Of those, the ones whose `_tcp.<name>` is not a held node (it is when a capability or a static record is under it too). */
  #parentNames = 0;

  constructor(entries: Iterable<readonly [string, OwnerNode]>, build: ServiceRRsets) {
    super(entries);
    this.#build = build;
  }

  override get(name: string): OwnerNode | undefined {
    const held = super.get(name);
    if (held !== undefined || name.charCodeAt(0) !== 0x5f /* _ */) return held;
    if (name.startsWith(MCP_PREFIX)) {
      const baseName = name.slice(MCP_PREFIX.length);
      const base = this.#base(baseName);
      return base === undefined ? undefined : new ServiceNode(name, baseName, base, this.#build);
    }
    if (name.startsWith(TCP_PREFIX)) return this.#base(name.slice(TCP_PREFIX.length)) === undefined ? undefined : SERVICE_PARENT;
    return undefined;
  }

  override get size(): number {
    return super.size + this.#serviceNames + this.#parentNames;
  }

  /**
   * Records that the held node at `baseName` now has `after` SRV records at its service name
   * instead of `before` (0: none). The caller has set `services` on the node.
   */
  serviceChanged(baseName: string, before: number, after: number): void {
    if ((before > 0) === (after > 0)) return;
    const delta = after > 0 ? 1 : -1;
    this.#serviceNames += delta;
    if (this.held(TCP_PREFIX + baseName) === undefined) this.#parentNames += delta;
  }

  /** A held node appeared (1) or went (-1) at `name`: a `_tcp.<name>` one takes over or gives back a service's parent. */
  heldChanged(name: string, delta: 1 | -1): void {
    if (name.startsWith(TCP_PREFIX) && this.#base(name.slice(TCP_PREFIX.length)) !== undefined) this.#parentNames -= delta;
  }

  #base(baseName: string): (OwnerNode & ServiceBase) | undefined {
    const base = super.get(baseName) as (OwnerNode & Partial<ServiceBase>) | undefined;
    return base !== undefined && (base.services ?? 0) > 0 ? (base as OwnerNode & ServiceBase) : undefined;
  }

  override *entries(): MapIterator<[string, OwnerNode]> {
    for (const [name, node] of super.entries()) {
      yield [name, node];
      if (((node as Partial<ServiceBase>).services ?? 0) === 0) continue;
      const service = MCP_PREFIX + name;
      yield [service, new ServiceNode(service, name, node as OwnerNode & ServiceBase, this.#build)];
      if (this.held(TCP_PREFIX + name) === undefined) yield [TCP_PREFIX + name, SERVICE_PARENT];
    }
  }

  override *keys(): MapIterator<string> {
    for (const [name, node] of super.entries()) {
      yield name;
      if (((node as Partial<ServiceBase>).services ?? 0) === 0) continue;
      yield MCP_PREFIX + name;
      if (this.held(TCP_PREFIX + name) === undefined) yield TCP_PREFIX + name;
    }
  }
}
