// A zone's node map in which some names are answered without a node held for them: the service
// names of agent names (service-nodes.ts) and the PTR names of addresses one agent alone has
// (reverse-nodes.ts). A subclass answers get(), entries(), keys() and size as if every name were
// held; has(), values(), forEach() and iteration follow from those here, so no reader can tell.

import type { OwnerNode } from './zone.ts';

export abstract class NodesWithUnheldNames extends Map<string, OwnerNode> {
  /** The held node at `name`, never an unheld one: what the incremental zone itself reads and writes. */
  held(name: string): OwnerNode | undefined {
    return super.get(name);
  }

  override has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  override [Symbol.iterator](): MapIterator<[string, OwnerNode]> {
    return this.entries();
  }

  override *values(): MapIterator<OwnerNode> {
    for (const [, node] of this.entries()) yield node;
  }

  override forEach(callback: (value: OwnerNode, key: string, map: Map<string, OwnerNode>) => void, thisArg?: unknown): void {
    for (const [name, node] of this.entries()) callback.call(thisArg, node, name, this);
  }
}
