// A reverse zone's owner names for the incremental zone (incremental.ts), with the PTR names of
// addresses one agent alone has answered from an index by address instead of held:
//
//   11.0.0.10.in-addr.arpa    PTR of the agent at 10.0.0.11
//
// Memory (issue 9 item 4): held, such a name was per agent a derived node (64 B), a Map entry in
// the zone's node map (~57 B) and its owner string (~40 B), one in every five names of the zone
// at 10,000 agents (test/bench/zone-heap.ts). Here it is one entry in a Map keyed by the address:
// an IPv4 address as a 32-bit integer (a small integer to V8: no string kept), an IPv6 address
// as its 32 hex digits. A lookup parses the name back to that key and builds a small node.
//
// Only a name with one contributor, one PTR and no name below it is kept so (the incremental zone
// decides: #rebuildOwner, then toIndex). Any other owner (agents sharing an address, a static
// record's address, names under it) is held as before, so the rules of compileZone (duplicates,
// budget, static shadowing) are applied where they always were.
//
// As service-nodes.ts, the Map's whole read side (get, has, size, iteration) shows these names
// as if held, so every reader (answer.ts, the differential tests' comparison with compileZone)
// sees what compileZone holds; the incremental zone reads and writes its nodes through held().

import { RRType } from '../wire/constants.ts';
import { NodesWithUnheldNames } from './unheld-names.ts';
import { OwnerNode, type RRsetList } from './zone.ts';

const IN_ADDR = '.in-addr.arpa';
const IP6 = '.ip6.arpa';

/** Builds the RRsets of the PTR name `owner` from its one contributor. */
export type PtrRRsets<Contributor> = (owner: string, contributor: Contributor) => RRsetList;

/** A key of the address index: an IPv4 address as an int32, an IPv6 address as 32 hex digits. */
export type AddressKey = number | string;

/**
 * The address key of a reverse name that names one address as reverseName() (reverse.ts) spells
 * it (decimal octets without leading zeros, lower-case nibbles); null for any other name. Parsed
 * by character codes: an NXDOMAIN for a random name in a reverse zone passes here on every query.
 */
export function addressKeyOf(name: string): AddressKey | null {
  if (name.endsWith(IN_ADDR)) return ipv4Key(name, name.length - IN_ADDR.length);
  if (name.endsWith(IP6)) return ipv6Key(name, name.length - IP6.length);
  return null;
}

function ipv4Key(name: string, end: number): number | null {
  let key = 0;
  let octets = 0;
  let at = 0;
  while (at < end) {
    let octet = 0;
    const start = at;
    for (; at < end; at++) {
      const code = name.charCodeAt(at);
      if (code === 0x2e) break;
      if (code < 0x30 || code > 0x39) return null;
      octet = octet * 10 + (code - 0x30);
    }
    const digits = at - start;
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && name.charCodeAt(start) === 0x30)) return null;
    // The name lists the octets last first.
    key |= octet << (8 * octets);
    if (++octets > 4) return null;
    at++; // the dot
  }
  return octets === 4 && at === end + 1 ? key | 0 : null;
}

function ipv6Key(name: string, end: number): string | null {
  if (end !== 63) return null;
  const nibbles = new Array<string>(32);
  for (let index = 0; index < 32; index++) {
    const code = name.charCodeAt(index * 2);
    if (!((code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66))) return null;
    if (index < 31 && name.charCodeAt(index * 2 + 1) !== 0x2e) return null;
    nibbles[31 - index] = name[index * 2]!;
  }
  return nibbles.join('');
}

/** The reverse name of an address key (addressKeyOf's inverse). */
export function reverseNameOfKey(key: AddressKey): string {
  // The key holds the name's first octet (the address's last) in its low byte.
  if (typeof key === 'number') return [key & 0xff, (key >>> 8) & 0xff, (key >>> 16) & 0xff, key >>> 24, 'in-addr', 'arpa'].join('.');
  return [...key].reverse().concat('ip6', 'arpa').join('.');
}

/** A PTR name answered from the index: one PTR RRset, built from its contributor when asked. */
class IndexedPtrNode<Contributor> extends OwnerNode {
  readonly #owner: string;
  readonly #build: PtrRRsets<Contributor>;
  /** Its one contributor (the incremental zone's #reset reads it as it reads a held node's). */
  readonly contributors: Contributor;

  constructor(owner: string, contributor: Contributor, build: PtrRRsets<Contributor>) {
    super();
    this.#owner = owner;
    this.contributors = contributor;
    this.#build = build;
  }

  rrsets(): RRsetList {
    return this.#build(this.#owner, this.contributors);
  }

  override get ownerName(): string {
    return this.#owner;
  }

  override get size(): number {
    return 1;
  }

  override has(type: number): boolean {
    return type === RRType.PTR;
  }
}

export class ReverseNodes<Contributor> extends NodesWithUnheldNames {
  readonly #build: PtrRRsets<Contributor>;
  readonly #byAddress = new Map<AddressKey, Contributor>();

  constructor(entries: Iterable<readonly [string, OwnerNode]>, build: PtrRRsets<Contributor>) {
    super(entries);
    this.#build = build;
  }

  /** The one contributor of the indexed PTR name `name`, if it is one. */
  indexed(name: string): Contributor | undefined {
    if (this.#byAddress.size === 0) return undefined;
    const key = addressKeyOf(name);
    return key === null ? undefined : this.#byAddress.get(key);
  }

  /** Indexes `name` (a name addressKeyOf parses, with no held node) with its one contributor. */
  index(name: string, contributor: Contributor): void {
    this.#byAddress.set(addressKeyOf(name)!, contributor);
  }

  /** Takes `name` out of the index (the incremental zone then holds it, or it is gone). */
  unindex(name: string): void {
    const key = addressKeyOf(name);
    if (key !== null) this.#byAddress.delete(key);
  }

  override get(name: string): OwnerNode | undefined {
    const held = super.get(name);
    if (held !== undefined) return held;
    const contributor = this.indexed(name);
    return contributor === undefined ? undefined : new IndexedPtrNode(name, contributor, this.#build);
  }

  override get size(): number {
    return super.size + this.#byAddress.size;
  }

  override *entries(): MapIterator<[string, OwnerNode]> {
    yield* super.entries();
    for (const [key, contributor] of this.#byAddress) {
      const owner = reverseNameOfKey(key);
      yield [owner, new IndexedPtrNode(owner, contributor, this.#build)];
    }
  }

  override *keys(): MapIterator<string> {
    yield* super.keys();
    for (const key of this.#byAddress.keys()) yield reverseNameOfKey(key);
  }
}
