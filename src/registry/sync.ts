// Keeps a projection of the registry's healthy agents current and hands each change to the zone.
//
// The registry has no push, watch or change cursor for agents (reference §6): polling GET /agents
// is the only complete source. GET /events?limit=1 is cheap (1.2 ms) and used only as a hint to
// poll sooner; endpoint, port and capability changes and purges write no event (§3.6), so the
// periodic poll stays. A failing registry never empties the zone: the last good projection keeps
// serving (and survives restarts through the snapshot file) until the registry answers again.
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_AGENTS_BODY_LIMITS, type AgentsBodyLimits } from './agents-body.ts';
import { fetchAgents, fetchNewestEventMarker } from './client.ts';
import { RegistryConnectError, RegistryError, RegistryFormatError, RegistryHttpError } from './errors.ts';
import { DEFAULT_LOOKUP_CONCURRENCY, resolveHostnameAgents, systemHostnameLookup } from './hostnames.ts';
import { DEFAULT_PROBE_CONCURRENCY, EndpointProber, type EndpointConnect } from './endpoint-probe.ts';
import { endpointProbeMetrics, setSkippedAgents, type RegistryMetrics } from './metrics.ts';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { AgentsProjector, byId, newListingMemory, sameAgent, type ListingMemory, type ProjectionResult } from './projection.ts';
import { PersistentCondition } from '../logging/persistent-condition.ts';
import { loadSnapshot, removeStaleTempFiles, saveSnapshot, SNAPSHOT_SKIP_REASONS, type SnapshotSkip } from './snapshot-store.ts';
import type {
  AgentProjection,
  HostnameLookup,
  PollFailureReason,
  PollOutcome,
  RegistrySnapshot,
  RegistrySyncState,
  SkipReason,
  SkippedAgent,
  SnapshotSource,
} from './types.ts';

export interface RegistrySyncOptions {
  /** Base URL of the registry, e.g. http://127.0.0.1:8000 (a path prefix is kept). */
  registryUrl: string;
  /** Delay between the end of one poll and the start of the next (polls never overlap). */
  pollIntervalMs: number;
  /** Whole-request timeout of one GET (connect, headers and body). */
  requestTimeoutMs: number;
  /** Where the last good projection is kept across restarts; null disables it. */
  snapshotPath: string | null;
  /**
   * Least time between the starts of two snapshot writes (registry.snapshotInterval); changes in
   * between are written together when it has passed, and on stop(). 0 or absent: after every change.
   */
  snapshotIntervalMs?: number;
  /** Interval of the GET /events?limit=1 change hint; 0 turns it off. */
  eventsHintIntervalMs: number;
  /** Look up hostname endpoints through the system resolver (else their addresses stay []). */
  resolveHostnames: boolean;
  logger: Logger;
  metrics: RegistryMetrics;
  /** Called with every changed projection; an exception is logged and the change retried next poll. */
  onChange: (snapshot: RegistrySnapshot) => void;
  /** Wall clock in epoch ms, for timestamps (tests pass their own). */
  now?: () => number;
  lookup?: HostnameLookup;
  /** Per-hostname lookup timeout; default min(requestTimeoutMs, 2000). */
  lookupTimeoutMs?: number;
  /** Cap on the GET /agents body; default 64 MiB (10,000 agents ≈ 7.5 MB, reference §8). */
  maxBodyBytes?: number;
  /** Bounds of what is kept from a body (registry.maxAgents and the fixed per-field bounds). */
  bodyLimits?: Partial<AgentsBodyLimits>;
  /**
   * Registry namespaces to poll, one `GET /agents?namespace=` each per poll (views); every agent
   * then carries its namespace. Absent or empty: one `GET /agents` of all agents, no namespace.
   */
  namespaces?: readonly string[];
  /** TCP-probe each agent's endpoint when it appears or changes (registry.probeEndpoints); null: off. */
  probeEndpoints?: { timeoutMs: number; concurrency?: number; connect?: EndpointConnect } | null;
}

export interface RegistrySync {
  /** Loads the snapshot file (onChange with source 'snapshot'), runs the first poll, then polls on a timer. */
  start(): Promise<void>;
  /** Stops timers and aborts in-flight requests; final (a stopped sync does not restart). */
  stop(): Promise<void>;
  /**
   * Polls now, or right after the poll in flight (so the answer is never older than the call).
   * Works before start() too, without arming any timer (tests drive the sync this way).
   */
  pollNow(): Promise<PollOutcome>;
  state(): RegistrySyncState;
  /** Resolves when no endpoint probe round is running (tests). */
  probesSettled(): Promise<void>;
}

/** A lasting poll failure of one kind is repeated in the log at most this often. */
export const FAILURE_LOG_INTERVAL_MS = 5 * 60_000;

export function createRegistrySync(options: RegistrySyncOptions): RegistrySync {
  const log = options.logger.child({ component: 'registry-sync' });
  const { metrics, registryUrl } = options;
  const now = options.now ?? Date.now;
  const lookup = options.lookup ?? systemHostnameLookup;
  const lookupTimeoutMs = options.lookupTimeoutMs ?? Math.min(options.requestTimeoutMs, 2000);
  const stopController = new AbortController();
  const bodyLimits: AgentsBodyLimits = { ...DEFAULT_AGENTS_BODY_LIMITS, ...options.bodyLimits };
  const namespaces = [...new Set(options.namespaces ?? [])];

  let started = false;
  let stopped = false;
  let served: RegistrySnapshot | null = null;
  /**
   * Per listing ('' for all agents, else its namespace): the agent at each position of its last
   * body, updated in place by each poll's projector; the reader then takes an unchanged agent's id
   * and name as the served strings instead of decoding new ones (AgentsBodyReader's `expect`). And
   * the projector's marks, reused (ListingMemory).
   */
  const listingMemories = new Map<string, ListingMemory>();
  let source: 'none' | SnapshotSource = 'none';
  let lastSuccessAt: number | null = null;
  let lastError: string | null = null;
  let lastErrorCode: string | null = null;
  let consecutiveFailures = 0;
  // A snapshot that cannot be written (read-only or foreign-owned bind mount, full disk) is a
  // lasting condition: logged once, then at a low rate, and when it clears; /ready says why.
  const snapshotCondition = new PersistentCondition({
    logger: log,
    message: 'cannot write registry snapshot file',
    clearedMessage: 'registry snapshot file written again',
  });
  let snapshotWriteError: string | null = null;
  let snapshotFailingSince: number | null = null;
  let snapshotSkippedAtLoad = 0;
  // One lasting condition per kind of failure (failureKey): each kind is logged when it starts,
  // then at most once per FAILURE_LOG_INTERVAL_MS with the count in between, so an outage that
  // alternates between two kinds (refused / timeout) still writes two lines, not one per poll.
  // Bounded: the keys are status codes, system codes and format codes, and the map empties on
  // the first successful poll.
  const failureConditions = new Map<string, PersistentCondition>();
  const failureCondition = (key: string): PersistentCondition => {
    let condition = failureConditions.get(key);
    if (condition === undefined) {
      const internal = key === 'internal';
      condition = new PersistentCondition({
        logger: log,
        level: internal ? 'error' : 'warn',
        message: internal ? 'registry poll failed on an internal error; keeping the current zone' : 'registry poll failed; keeping the current zone',
        clearedMessage: 'registry poll failure ended',
        repeatMs: FAILURE_LOG_INTERVAL_MS,
        now,
      });
      failureConditions.set(key, condition);
    }
    return condition;
  };
  const prober = options.probeEndpoints
    ? new EndpointProber({
      timeoutMs: options.probeEndpoints.timeoutMs,
      concurrency: options.probeEndpoints.concurrency ?? DEFAULT_PROBE_CONCURRENCY,
      connect: options.probeEndpoints.connect,
      logger: log,
      metrics: endpointProbeMetrics(metrics),
    })
    : null;
  let snapshotUnsaved = false;
  // Snapshot writes are spaced by snapshotIntervalMs (a monotonic clock: `now` is the wall clock
  // and tests fix it). At 10,000 agents the file is 7.5 MB, written and fsynced whole: after
  // every change, under steady churn (one agent per 2 s poll), that was ~3.7 MB/s of disk writes
  // and ~16 ms of main-thread CPU per poll for a file only read at start.
  const snapshotIntervalMs = options.snapshotIntervalMs ?? 0;
  let snapshotWriting: Promise<void> | null = null;
  let snapshotWriteStartedAt: number | null = null;
  let snapshotTimer: NodeJS.Timeout | null = null;
  let snapshotSavedAt: number | null = null;
  let warnedSkips = new Set<string>();
  let failingHostnames = new Set<string>();

  let inFlight: Promise<PollOutcome> | null = null;
  let queued: Promise<PollOutcome> | null = null;
  let pollTimer: NodeJS.Timeout | null = null;
  let hintTimer: NodeJS.Timeout | null = null;
  let hintInFlight: Promise<void> | null = null;
  let lastMarker: string | null = null;

  function pollNow(): Promise<PollOutcome> {
    if (stopped) return Promise.resolve({ result: 'stopped' });
    if (inFlight === null) return runPoll();
    // Coalesce: however many callers ask during one poll, one follow-up poll serves them all.
    queued ??= inFlight.then(() => {
      queued = null;
      return stopped ? { result: 'stopped' as const } : runPoll();
    });
    return queued;
  }

  function runPoll(): Promise<PollOutcome> {
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = null;
    const poll = pollOnce().finally(() => {
      inFlight = null;
      schedulePoll();
    });
    inFlight = poll;
    return poll;
  }

  function schedulePoll(): void {
    if (stopped || !started || queued !== null) return;
    pollTimer = setTimeout(() => void pollNow(), options.pollIntervalMs);
    pollTimer.unref();
  }

  async function pollOnce(): Promise<PollOutcome> {
    const startedAt = performance.now();
    try {
      const projected = await fetchProjection();
      const resolved = options.resolveHostnames
        ? await resolveHostnameAgents(projected.agents, served?.agents ?? [], { lookup, timeoutMs: lookupTimeoutMs, concurrency: DEFAULT_LOOKUP_CONCURRENCY })
        : { agents: projected.agents, skipped: [], failedHostnames: [] };
      if (stopped) return { result: 'stopped' };
      const skipped = [...projected.skipped, ...resolved.skipped].sort(byId);
      noteSkipped(skipped);
      noteHostnameFailures(resolved.failedHostnames);
      noteSuccess();
      const changed = await applyProjection(resolved.agents);
      return { result: changed ? 'changed' : 'unchanged', agents: resolved.agents.length, skipped: skipped.length };
    } catch (error) {
      if (stopped) return { result: 'stopped' };
      return noteFailure(error);
    } finally {
      metrics.syncDuration.observe((performance.now() - startedAt) / 1000);
    }
  }

  /**
   * One GET /agents, or one per configured namespace in turn (each with the same body bounds);
   * any failure fails the whole poll, so a view never loses one namespace's agents on its own.
   */
  async function fetchProjection(): Promise<ProjectionResult> {
    // Each agent is projected as soon as its object is read, between the body's chunks (client.ts
    // lets the event loop in every 64 KiB), and an unchanged one is replaced by the served object
    // at once: a poll never holds the raw list, nor a second copy of the agents (issue 9 items 4
    // and 5). Measured at 10,000 agents: the raw list alone was 7.7 MiB that survived long enough
    // to be promoted to the old generation on every poll.
    const servedAgents = served?.agents ?? [];
    const project = async (namespace?: string): Promise<ProjectionResult> => {
      const listing = namespace ?? '';
      let memory = listingMemories.get(listing);
      if (memory === undefined) listingMemories.set(listing, (memory = newListingMemory()));
      const projector = new AgentsProjector(namespace, servedAgents, memory);
      await fetchAgents(registryUrl, options.requestTimeoutMs, stopController.signal, {
        maxBodyBytes: options.maxBodyBytes, limits: bodyLimits, ...(namespace === undefined ? {} : { namespace }),
        onAgent: (agent) => projector.add(agent), expect: projector.expectedAt,
      });
      return projector.finish();
    };
    if (namespaces.length === 0) return project();
    const agents: AgentProjection[] = [];
    const skipped: SkippedAgent[] = [];
    for (const namespace of namespaces) {
      const part = await project(namespace);
      agents.push(...part.agents);
      skipped.push(...part.skipped);
    }
    // An id is one registry row, so it is in one namespace; a second sighting means the agent
    // moved between two requests of this poll: the later listing wins, the next poll settles it.
    const byAgentId = new Map(agents.map((agent) => [agent.id, agent]));
    return { agents: [...byAgentId.values()].sort(byId), skipped: skipped.sort(byId) };
  }

  /** Publishes the projection when it differs from the one served; true when it did. */
  async function applyProjection(agents: AgentProjection[]): Promise<boolean> {
    // The very first projection is always published, even an empty one: the zone needs a start.
    const diff = served === null ? null : await diffAgentsSliced(served.agents, agents);
    const changed = diff === null || !diff.same;
    if (changed && !publish({ source: 'registry', agents, updatedAt: now(), registryUrl, ...(diff?.changed ? { changed: diff.changed } : {}) })) return false;
    if (changed || snapshotUnsaved) await saveSnapshotWhenDue();
    return changed;
  }

  /**
   * Writes the served projection now when the last write started snapshotIntervalMs ago or more
   * (awaited: the poll ends with the file written, as without an interval); otherwise arms one
   * timer for when it has, which writes whatever is served then. One write at a time.
   */
  async function saveSnapshotWhenDue(): Promise<void> {
    if (options.snapshotPath === null || !snapshotUnsaved || served === null || snapshotWriting !== null || stopped) return;
    const wait = snapshotWriteStartedAt === null ? 0 : snapshotWriteStartedAt + snapshotIntervalMs - performance.now();
    if (wait > 0) {
      snapshotTimer ??= setTimeout(() => {
        snapshotTimer = null;
        // persist() reports write failures itself; anything else is a bug, logged, never thrown.
        saveSnapshotWhenDue().catch((error: unknown) => log.error({ err: error }, 'snapshot write failed on an internal error'));
      }, wait);
      snapshotTimer.unref();
      return;
    }
    await writeServedSnapshot();
    // A change published while the file was written (a timer's write runs beside the polls).
    if (snapshotUnsaved && snapshotIntervalMs > 0) await saveSnapshotWhenDue();
  }

  async function writeServedSnapshot(): Promise<void> {
    const written = served!;
    snapshotWriteStartedAt = performance.now();
    snapshotWriting = persist(written);
    try {
      await snapshotWriting;
    } finally {
      snapshotWriting = null;
    }
  }

  function publish(snapshot: RegistrySnapshot): boolean {
    try {
      options.onChange(snapshot);
    } catch (error) {
      // Not committed: the next poll sees the same difference and offers it again.
      log.error({ err: error }, 'zone update from registry projection failed');
      return false;
    }
    served = snapshot;
    prober?.observe(snapshot.agents);
    snapshotUnsaved = snapshot.source === 'registry';
    metrics.zoneUpdates.inc();
    metrics.agents.set(snapshot.agents.length);
    log.info({ agents: snapshot.agents.length, source: snapshot.source }, 'registry projection changed');
    return true;
  }

  async function persist(written: RegistrySnapshot): Promise<void> {
    const path = options.snapshotPath;
    if (path === null) return;
    try {
      await saveSnapshot(path, registryUrl, written.agents, new Date(now()));
      // Still unsaved when another projection was published while this one was written.
      if (served === written) snapshotUnsaved = false;
      snapshotSavedAt = now();
      metrics.snapshotWrites.inc({ result: 'success' });
      metrics.snapshotWriteFailing.set(0);
      snapshotWriteError = null;
      snapshotFailingSince = null;
      snapshotCondition.clear({ path });
    } catch (error) {
      // Kept marked unsaved: retried after the next successful poll.
      metrics.snapshotWrites.inc({ result: 'failure' });
      metrics.snapshotWriteFailing.set(1);
      snapshotWriteError = await describeWriteError(error, path);
      snapshotFailingSince ??= now();
      snapshotCondition.report({ path, code: (error as NodeJS.ErrnoException).code ?? null, error: snapshotWriteError });
    }
  }

  function noteSuccess(): void {
    if (consecutiveFailures > 0) log.info({ failures: consecutiveFailures }, 'registry reachable again');
    consecutiveFailures = 0;
    // Dropped without their own "ended" lines: the one line above says the registry is back.
    failureConditions.clear();
    lastError = null;
    lastErrorCode = null;
    lastSuccessAt = now();
    source = 'registry';
    metrics.polls.inc({ result: 'success' });
    metrics.up.set(1);
    metrics.lastSuccessTimestamp.set(lastSuccessAt / 1000);
  }

  function noteFailure(error: unknown): PollOutcome {
    const reason: PollFailureReason = error instanceof RegistryError && error.reason !== 'aborted' ? error.reason : 'internal';
    const message = error instanceof Error ? error.message : String(error);
    consecutiveFailures += 1;
    lastError = message;
    lastErrorCode = error instanceof RegistryError ? error.code : 'internal';
    if (error instanceof RegistryFormatError) metrics.rejectedBodies.inc({ code: error.code.toLowerCase() });
    metrics.polls.inc({ result: 'failure' });
    metrics.pollFailures.inc({ reason });
    metrics.up.set(0);
    const key = failureKey(error);
    if (reason === 'internal') failureCondition(key).report({ err: error, consecutiveFailures });
    else failureCondition(key).report({ reason, code: lastErrorCode, error: message, consecutiveFailures });
    return { result: 'failed', reason, error: message };
  }

  function noteSkipped(skipped: readonly SkippedAgent[]): void {
    const { fresh, keys } = newSkips(warnedSkips, skipped);
    for (const skip of fresh) log.warn(skip, 'agent left out of the zone');
    warnedSkips = keys;
    setSkippedAgents(metrics, countByReason(skipped));
  }

  function noteHostnameFailures(failed: readonly string[]): void {
    const current = new Set(failed);
    for (const hostname of current) {
      if (!failingHostnames.has(hostname)) log.warn({ hostname }, 'hostname lookup failed; previous addresses kept where known');
    }
    for (const hostname of failingHostnames) {
      if (!current.has(hostname)) log.info({ hostname }, 'hostname lookup works again');
    }
    failingHostnames = current;
  }

  async function loadSnapshotFile(path: string): Promise<void> {
    try {
      const removed = await removeStaleTempFiles(path);
      if (removed > 0) log.info({ path, removed }, 'removed temp files of an interrupted snapshot write');
    } catch (error) {
      log.warn({ path, code: (error as NodeJS.ErrnoException).code ?? null }, 'cannot clean up snapshot temp files');
    }
    const loaded = await loadSnapshot(path);
    noteSnapshotSkips(path, loaded.skipped);
    if (loaded.snapshot === null) {
      log.info({ path, reason: loaded.reason }, 'starting without a registry snapshot');
      return;
    }
    if (loaded.snapshot.registryUrl !== registryUrl) {
      // Another registry's agents could be another mesh entirely: serving nothing is safer.
      log.warn({ path, snapshotRegistryUrl: loaded.snapshot.registryUrl }, 'ignoring snapshot of another registry');
      return;
    }
    const agents = [...loaded.snapshot.agents].sort(byId);
    if (publish({ source: 'snapshot', agents, updatedAt: Date.parse(loaded.snapshot.savedAt), registryUrl })) source = 'snapshot';
  }

  function noteSnapshotSkips(path: string, skipped: readonly SnapshotSkip[]): void {
    snapshotSkippedAtLoad = skipped.length;
    const counts = new Map<string, number>();
    for (const skip of skipped) counts.set(skip.reason, (counts.get(skip.reason) ?? 0) + 1);
    for (const reason of SNAPSHOT_SKIP_REASONS) metrics.snapshotSkippedAgents.set({ reason }, counts.get(reason) ?? 0);
    // One line for all of them: a corrupted file may hold thousands.
    if (skipped.length > 0) log.warn({ path, skipped: skipped.length, byReason: Object.fromEntries(counts), first: skipped.slice(0, 10) }, 'snapshot agents left out at load');
  }

  function scheduleHint(delayMs: number): void {
    if (stopped) return;
    hintTimer = setTimeout(() => {
      hintInFlight = checkEventsHint().finally(() => {
        hintInFlight = null;
        scheduleHint(options.eventsHintIntervalMs);
      });
    }, delayMs);
    hintTimer.unref();
  }

  async function checkEventsHint(): Promise<void> {
    try {
      const marker = await fetchNewestEventMarker(registryUrl, options.requestTimeoutMs, stopController.signal);
      // The first marker is only a baseline; the first /agents poll already covers the past.
      if (lastMarker !== null && marker !== lastMarker) {
        log.debug({ marker }, 'registry event seen; polling now');
        void pollNow();
      }
      lastMarker = marker;
    } catch (error) {
      // The /agents poll reports registry failures; the hint stays quiet to not double them.
      log.debug({ err: error }, 'registry events hint failed');
    }
  }

  return {
    async start() {
      if (started) throw new Error('registry sync already started');
      started = true;
      log.info(
        { registryUrl, namespaces: namespaces.length > 0 ? namespaces : 'all', pollIntervalMs: options.pollIntervalMs, eventsHintIntervalMs: options.eventsHintIntervalMs, snapshotPath: options.snapshotPath, resolveHostnames: options.resolveHostnames },
        'registry sync starting',
      );
      if (options.snapshotPath !== null) await loadSnapshotFile(options.snapshotPath);
      if (options.eventsHintIntervalMs > 0) scheduleHint(0);
      await pollNow();
    },
    async stop() {
      stopped = true;
      if (pollTimer !== null) clearTimeout(pollTimer);
      if (hintTimer !== null) clearTimeout(hintTimer);
      stopController.abort();
      if (snapshotTimer !== null) clearTimeout(snapshotTimer);
      snapshotTimer = null;
      await Promise.all([inFlight, queued, hintInFlight, snapshotWriting, prober?.stop()]);
      // Changes held back by snapshotIntervalMs: a restart must not come back older than it was.
      if (snapshotUnsaved && served !== null && options.snapshotPath !== null) await writeServedSnapshot();
    },
    pollNow,
    probesSettled: () => prober?.settled() ?? Promise.resolve(),
    state() {
      return {
        ready: source !== 'none',
        source,
        lastSuccessAt,
        lastError,
        lastErrorCode,
        consecutiveFailures,
        agents: served?.agents.length ?? 0,
        endpointProbe: prober?.state() ?? { enabled: false },
        snapshot: options.snapshotPath === null ? null : {
          path: options.snapshotPath,
          writeFailing: snapshotWriteError !== null,
          savedAt: snapshotSavedAt,
          unsaved: snapshotUnsaved,
          writeError: snapshotWriteError,
          failingSince: snapshotFailingSince,
          skippedAtLoad: snapshotSkippedAtLoad,
        },
      };
    },
  };
}

/**
 * The error line for /ready and the log: the system code, and for a permission problem who owns
 * the directory and who mesh-dns runs as — the usual cause is a bind mount owned by another uid.
 */
export async function describeWriteError(error: unknown, path: string): Promise<string> {
  const code = (error as NodeJS.ErrnoException).code;
  const base = error instanceof Error ? error.message : String(error);
  if (code !== 'EACCES' && code !== 'EPERM') return base;
  const dir = dirname(path);
  try {
    const owner = await stat(dir);
    return `${base} (directory ${dir} is owned by uid ${owner.uid} gid ${owner.gid} mode ${(owner.mode & 0o777).toString(8)}; mesh-dns runs as uid ${process.getuid?.() ?? '?'}: make it writable or set registry.snapshotPath)`;
  } catch {
    return `${base} (mesh-dns runs as uid ${process.getuid?.() ?? '?'}: make ${dir} writable or set registry.snapshotPath)`;
  }
}

export interface AgentsDiff {
  same: boolean;
  /**
   * The agents of the new list that differ, when it kept the old one's members (the same ids in the
   * same order, each in the same namespace and still with or without addresses); else null.
   */
  changed: AgentProjection[] | null;
}

/**
 * The sync's "did the zone change" test over two id-sorted projections, in slices of `sliceSize`
 * with the event loop let in between (20,000 agents: tens of ms at once). The changed agents let
 * the zone look at only those (ZoneHolder.setInstances).
 *
 * Every agent of `b` equal to its namesake in `a` is replaced by that object: the served list,
 * the zone's instances and the snapshot then share one copy of each unchanged agent, and the
 * poll's freshly parsed copy is garbage at once (issue 9 item 4: with two copies, the zone kept
 * the first projection's objects and the sync the newest one's, ~1 KiB per agent twice).
 */
export async function diffAgentsSliced(a: readonly AgentProjection[], b: AgentProjection[], sliceSize = 2000): Promise<AgentsDiff> {
  // The projector hands back the served list itself when nothing changed (AgentsProjector.finish).
  if (a === b) return { same: true, changed: [] };
  let sameMembers = a.length === b.length;
  const changed: AgentProjection[] = [];
  let next = 0;
  for (let index = 0; index < b.length; index++) {
    const after = b[index]!;
    // Both lists are sorted by id (byId: code-unit order, as `<`), and ids are unique in each.
    while (next < a.length && a[next]!.id < after.id) {
      next++;
      sameMembers = false;
    }
    const before = next < a.length && a[next]!.id === after.id ? a[next++]! : undefined;
    if (before === undefined) {
      sameMembers = false;
    } else {
      if (before.namespace !== after.namespace || (before.addresses.length > 0) !== (after.addresses.length > 0)) sameMembers = false;
      if (sameAgent(before, after)) b[index] = before;
      else changed.push(after);
    }
    if (index % sliceSize === sliceSize - 1) await yieldToEventLoop();
  }
  if (next < a.length) sameMembers = false;
  return { same: sameMembers && changed.length === 0, changed: sameMembers ? changed : null };
}

/** Identity of a failure for log rate limiting: the same outage repeated is one key. */
export function failureKey(error: unknown): string {
  if (error instanceof RegistryHttpError) return `http:${error.status}`;
  if (error instanceof RegistryConnectError) return `connect:${error.systemCode ?? ''}`;
  if (error instanceof RegistryError) return `${error.reason}:${error.code}`;
  return 'internal';
}

/**
 * Skips not warned about yet, and the keys now current. A skip is warned once per (id, reason,
 * endpoint) while it lasts: a steady `0.0.0.0` agent must not log on every 2 s poll.
 */
export function newSkips(warned: ReadonlySet<string>, skipped: readonly SkippedAgent[]): { fresh: SkippedAgent[]; keys: Set<string> } {
  const keys = new Set<string>();
  const fresh: SkippedAgent[] = [];
  for (const skip of skipped) {
    const key = `${skip.id}\u0000${skip.reason}\u0000${skip.endpoint}`;
    keys.add(key);
    if (!warned.has(key)) fresh.push(skip);
  }
  return { fresh, keys };
}

export function countByReason(skipped: readonly SkippedAgent[]): Map<SkipReason, number> {
  const counts = new Map<SkipReason, number>();
  for (const skip of skipped) counts.set(skip.reason, (counts.get(skip.reason) ?? 0) + 1);
  return counts;
}
