// The order of the query pipeline, written in one place. Each stage answers or passes on.

import type { MeshZoneSource } from './stages/mesh-zone.ts';
import { createChaosStage } from './stages/chaos.ts';
import { createMeshZoneStage } from './stages/mesh-zone.ts';
import { createOutsideZoneStage } from './stages/outside-zone.ts';
import { createProtocolStage } from './stages/protocol.ts';
import type { PipelineStage, QueryContext, StageAnswer } from './types.ts';
import { Rcode } from '../wire/constants.ts';
import { rcodeOnly } from '../wire/response.ts';

export interface PipelineOptions {
  zone: MeshZoneSource;
  chaosVersion: string;
}

export function createQueryPipeline(options: PipelineOptions): PipelineStage[] {
  return [
    // First: qtypes/classes that are errors or policy refusals whatever the name (OPT, AXFR,
    // HS), so no later stage has to consider them.
    createProtocolStage(),
    // CHAOS before the zones: version.bind is not an IN name and must never be forwarded.
    createChaosStage(options.chaosVersion),
    // The mesh and reverse zones: authoritative, synchronous, the hot path. Before anything
    // that could forward, so mesh names never leave the process.
    createMeshZoneStage(options.zone),
    // Last: whatever is not ours.
    createOutsideZoneStage(),
  ];
}

const NO_ANSWER: StageAnswer = { kind: 'servfail', sections: rcodeOnly(Rcode.SERVFAIL) };

/**
 * Runs the stages in order. Stays synchronous while every stage is (the authoritative hot path
 * never allocates a promise) and switches to async at the first stage that returns one.
 */
export function runPipeline(stages: readonly PipelineStage[], context: QueryContext): StageAnswer | Promise<StageAnswer> {
  for (let index = 0; index < stages.length; index++) {
    const result = stages[index]!.resolve(context);
    if (result instanceof Promise) return result.then((resolved) => resolved ?? runPipelineAsync(stages, context, index + 1));
    if (result) return result;
  }
  return NO_ANSWER;
}

async function runPipelineAsync(stages: readonly PipelineStage[], context: QueryContext, from: number): Promise<StageAnswer> {
  for (let index = from; index < stages.length; index++) {
    const result = await stages[index]!.resolve(context);
    if (result) return result;
  }
  return NO_ANSWER;
}
