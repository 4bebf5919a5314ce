// "Did you mean": the known name nearest to a misspelt one, for config errors (unknown YAML keys,
// unknown MESH_DNS_* variables). Pure.

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const columns = b.length + 1;
  const cost = new Array<number>(rows * columns);
  for (let i = 0; i < rows; i++) cost[i * columns] = i;
  for (let j = 0; j < columns; j++) cost[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < columns; j++) {
      const substitution = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(cost[(i - 1) * columns + j]! + 1, cost[i * columns + j - 1]! + 1, cost[(i - 1) * columns + j - 1]! + substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, cost[(i - 2) * columns + j - 2]! + 1);
      cost[i * columns + j] = best;
    }
  }
  return cost[rows * columns - 1]!;
}

/**
 * The candidate nearest to `input`, if it is a near miss: within a quarter of the compared
 * length (at least one edit). `compared` maps both sides to what is compared, e.g. a variable
 * name without its prefix, so MESH_DNS_REGISTRY_URL finds MCP_MESH_REGISTRY_URL.
 */
export function nearestName(input: string, candidates: readonly string[], compared: (name: string) => string = (name) => name): string | null {
  const target = compared(input);
  const limit = Math.max(1, Math.floor(target.length / 4));
  let best: { name: string; distance: number } | null = null;
  for (const candidate of candidates) {
    const distance = editDistance(target, compared(candidate));
    if (distance <= limit && (best === null || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name ?? null;
}
