// Young-generation bytes a piece of code allocates per call, for the in-process micro-benchmarks
// (issue 9 item 3: every scavenge pauses the server, and their number follows these bytes).
// V8's new-space usage is read before and after a window of calls; windows during which a
// scavenge ran (usage went down) are discarded, and the median of the rest is taken. Exact to a
// few bytes (reading the heap statistics itself allocates ~2 KiB per window, spread over it).

import v8 from 'node:v8';

const newSpaceUsed = (): number => v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')!.space_used_size;

export function youngBytesPerCall(call: (index: number) => unknown, windowCalls = 1000, windows = 50): number {
  for (let index = 0; index < 20_000; index++) call(index);
  const samples: number[] = [];
  for (let attempt = 0; attempt < windows * 4 && samples.length < windows; attempt++) {
    const before = newSpaceUsed();
    for (let index = 0; index < windowCalls; index++) call(index);
    const after = newSpaceUsed();
    if (after >= before) samples.push((after - before) / windowCalls);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1] ?? Number.NaN;
}
