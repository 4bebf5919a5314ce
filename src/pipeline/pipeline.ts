// The order of the query pipeline, written in one place. Each stage answers or passes on.

import type { MeshZoneSource } from './stages/mesh-zone.ts';
import { createAccessControlStage, DEFAULT_ACCESS_POLICY, enforcedAccessPolicy, type AccessPolicy } from './stages/access-control.ts';
import { createLocalNamesStage, type LocalNamesOptions } from './stages/local-names.ts';
import { createAutopathStage } from './stages/autopath.ts';
import { createChaosStage } from './stages/chaos.ts';
import { createSingleLabelStage } from './stages/single-label.ts';
import { ShortNameMetrics } from './short-name-metrics.ts';
import { createMeshZoneStage } from './stages/mesh-zone.ts';
import { createOutsideZoneStage } from './stages/outside-zone.ts';
import { createProtocolStage } from './stages/protocol.ts';
import type { NextStages, PipelineStage, QueryContext, StageAnswer, StageResult } from './types.ts';
import { Rcode } from '../wire/constants.ts';
import { rcodeOnly } from '../wire/response.ts';

export interface PipelineOptions {
  zone: MeshZoneSource;
  chaosVersion: string;
  /** Client views; default DEFAULT_ACCESS_POLICY (loopback and private networks only). */
  access?: AccessPolicy;
  /** Special-use, single-label and private reverse names; default all on. */
  localNames?: Omit<LocalNamesOptions, 'meshZone'>;
  /** Per-client token buckets (stages/rate-limit.ts); null or absent: no limit. */
  rateLimit?: PipelineStage | null;
  /** Cache and forwarder; without them names outside our zones are REFUSED. */
  recursion?: RecursionStages | null;
  /** names.autopath (default off): search-expanded names get a CNAME to the bare name. */
  autopath?: boolean;
  /** Counters of the single-label and autopath stages (default: counted, not exported). */
  shortNameMetrics?: ShortNameMetrics;
}

/** The stages that resolve names outside our zones, built by server.ts from the config. */
export interface RecursionStages {
  cache: PipelineStage | null;
  forward: PipelineStage;
  /** The forward stage over the container runtime's resolver, for single labels only; or null. */
  runtime?: PipelineStage | null;
}

export function createQueryPipeline(options: PipelineOptions): PipelineStage[] {
  const recursion = options.recursion ?? null;
  const access = options.access ?? DEFAULT_ACCESS_POLICY;
  const metrics = options.shortNameMetrics ?? new ShortNameMetrics();
  const localNames = { meshZone: options.zone, domainNeeded: true, bogusPriv: true, ...options.localNames };
  const autopath = createAutopathStage({ zone: options.zone, enabled: options.autopath ?? false, metrics, resolveRest: (context) => runPipeline(stages, context, stages.indexOf(autopath) + 1) });
  const stages: PipelineStage[] = [
    // Rate limiting before everything: a flood costs one bucket lookup and is cut before any
    // name is looked at; keyed on the socket address, never on the packet (ECS cannot pick it).
    ...(options.rateLimit ? [options.rateLimit] : []),
    // Then: qtypes/classes that are errors or policy refusals whatever the name or client
    // (OPT, AXFR, HS), so no later stage has to consider them.
    createProtocolStage(),
    // Client views next, on the socket address: a client that may see nothing is refused before
    // any data is looked at, and every later stage reads its decision from the context.
    // Without a forwarder nobody is offered recursion (RA=0, outside names REFUSED).
    createAccessControlStage(enforcedAccessPolicy(access, recursion !== null)),
    // CHAOS before the zones: version.bind is not an IN name and must never be forwarded.
    createChaosStage(options.chaosVersion),
    // Search-expanded names (api.example.com.mesh.local) before the mesh zone, which would answer
    // them NXDOMAIN: counted, and with autopath resolved as their bare name by the stages below.
    autopath,
    // The mesh and reverse zones: authoritative, synchronous, the hot path. Before anything
    // that could forward, so mesh names never leave the process.
    createMeshZoneStage(options.zone),
    // Single labels (`weather.`): the mesh zone's `<label>.<zone>`, else the container runtime's
    // resolver; after the mesh zone (a single-label zone apex is its own), before local-names,
    // which answers the rest NXDOMAIN (domain-needed).
    createSingleLabelStage({ zone: options.zone, runtime: recursion?.runtime ?? null, domainNeeded: localNames.domainNeeded, metrics }),
    // Names that must not leave the machine either (localhost, .local, single labels, private
    // reverse ranges): after our zones, which own some of them, before cache and forwarder.
    createLocalNamesStage(localNames),
    // The cache wraps the forwarder: it answers hits, stores what the forwarder returns, and
    // serves stale answers when the forwarder fails (RFC 8767).
    ...(recursion?.cache ? [recursion.cache] : []),
    // Last: whatever is not ours goes upstream, or is REFUSED when there is no forwarder.
    recursion ? recursion.forward : createOutsideZoneStage(),
  ];
  return stages;
}


const noContinuation: NextStages = () => {
  throw new Error('a stage without wrapsNext called next()');
};

const NO_ANSWER: StageAnswer = { kind: 'servfail', sections: rcodeOnly(Rcode.SERVFAIL) };

/**
 * The continuation after each stage of one pipeline, made once: `rest[index](context)` runs the
 * stages after `index`. Taking the context as an argument, it is the same function for every
 * query; a closure over the context was made per query at the cache stage before (every
 * forwarded cache hit paid for it, though only misses call it).
 */
const continuations = new WeakMap<readonly PipelineStage[], NextStages[]>();
/** The last pipeline asked for (there is one per server): one compare instead of the WeakMap lookup. */
let lastStages: readonly PipelineStage[] | null = null;
let lastContinuations: NextStages[] = [];

function continuationsOf(stages: readonly PipelineStage[]): NextStages[] {
  if (stages === lastStages) return lastContinuations;
  let rest = continuations.get(stages);
  if (rest === undefined) {
    rest = stages.map((stage, index) => (stage.wrapsNext ? (context: QueryContext) => runPipeline(stages, context, index + 1) : noContinuation));
    continuations.set(stages, rest);
  }
  lastStages = stages;
  lastContinuations = rest;
  return rest;
}

/**
 * Runs the stages in order. Stays synchronous while every stage is (the authoritative hot path
 * never allocates a promise) and switches to async at the first stage that returns one.
 */
export function runPipeline(stages: readonly PipelineStage[], context: QueryContext, from = 0): StageAnswer | Promise<StageAnswer> {
  for (let index = from; index < stages.length; index++) {
    const stage = stages[index]!;
    // Only wrapping stages get a continuation, one per stage for every query (continuationsOf).
    const rest: NextStages = stage.wrapsNext ? continuationsOf(stages)[index]! : noContinuation;
    const result = stage.resolve(context, rest);
    if (result instanceof Promise) return continueAfter(result, stages, context, index + 1);
    if (result) return result;
  }
  return NO_ANSWER;
}

/**
 * The rest of the pipeline once a stage went asynchronous. A function of its own, not a closure
 * inside runPipeline's loop: a closure over the loop's `index` made V8 allocate a context per
 * iteration, taken or not (40 bytes a stage, ~370 of the ~870 bytes a forwarded cache hit
 * allocated in-process; issue 9).
 */
function continueAfter(pending: Promise<StageResult>, stages: readonly PipelineStage[], context: QueryContext, from: number): Promise<StageAnswer> {
  return pending.then((resolved) => resolved ?? runPipeline(stages, context, from));
}
