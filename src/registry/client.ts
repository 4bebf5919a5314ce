// HTTP edge of the sync: two GETs against the registry, every failure mapped to a typed error.
//
// GET /agents has no pagination, ETag or gzip (reference §6), so every poll moves the whole list:
// ~750 B per agent, 7.5 MB at 10,000 agents (§8). The body cap bounds memory if something other
// than the registry answers (or the registry grows far past anything measured).
import { AgentsBodyReader, DEFAULT_AGENTS_BODY_LIMITS, type AgentsBody, type AgentsBodyLimits, type ExpectAgent, type RawAgent } from './agents-body.ts';
import {
  RegistryAbortedError,
  RegistryConnectError,
  RegistryError,
  RegistryFormatError,
  RegistryHttpError,
  RegistryTimeoutError,
} from './errors.ts';
import { parseJsonBounded, type JsonLimits } from './json-stream.ts';
import { httpsGet } from '../http/node-http.ts';
import { plainHttpGet, type HttpGet } from '../http/plain-http-get.ts';
import { HttpResponseError, type ResponseSink } from '../http/response-decoder.ts';

export const DEFAULT_MAX_AGENTS_BODY_BYTES = 64 * 1024 * 1024;
const MAX_EVENTS_BODY_BYTES = 1024 * 1024;
// GET /events entries nest 4 deep (`events[].data.stages[]`); strings are not kept by the pre-scan.
const SMALL_BODY_JSON_LIMITS: JsonLimits = { maxDepth: 32, maxStringBytes: 1024 };

export interface FetchOptions {
  /** Caller cancellation (the sync's stop()); reported as RegistryAbortedError. */
  signal?: AbortSignal;
  maxBodyBytes?: number;
}

export interface FetchAgentsOptions {
  maxBodyBytes?: number;
  /** Only the agents of this registry namespace (views); absent: all of them. */
  namespace?: string;
  limits?: AgentsBodyLimits;
  /** Each agent as soon as it is read, instead of all of them at the end (AgentsBodyReader). */
  onAgent?: (agent: RawAgent) => void;
  /** The agent probably at each position of the body (AgentsProjector.expectedAt). */
  expect?: ExpectAgent;
}

/**
 * GET <registryUrl>/agents, read as it arrives (AgentsBodyReader): memory is bounded by the kept
 * fields, not by the body, and the event loop runs between chunks. Types are checked; endpoints
 * and health are the projection's job (AgentsProjector, fed through `onAgent`).
 */
export async function fetchAgents(registryUrl: string, timeoutMs: number, signal?: AbortSignal, options: FetchAgentsOptions = {}): Promise<AgentsBody> {
  const reader = new AgentsBodyReader(options.limits ?? DEFAULT_AGENTS_BODY_LIMITS, options.onAgent, options.expect);
  // `?namespace=` is an exact filter; empty or absent lists every namespace, and a repeated
  // parameter counts only its first value (verified on the 3.7.1 binary), hence one GET each.
  const url = joinUrl(registryUrl, options.namespace === undefined ? '/agents' : `/agents?namespace=${encodeURIComponent(options.namespace)}`);
  await getBody(url, timeoutMs, { signal, maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_AGENTS_BODY_BYTES }, (chunk) => reader.write(chunk));
  return reader.end();
}

/**
 * A string that changes when a new registry event is written ('' when there is none). Only a hint:
 * endpoint, port and capability changes and purges write no event (reference §3.6), so the periodic
 * GET /agents stays the source of truth.
 */
export async function fetchNewestEventMarker(registryUrl: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const body = await getJson(joinUrl(registryUrl, '/events?limit=1'), timeoutMs, { signal, maxBodyBytes: MAX_EVENTS_BODY_BYTES });
  return newestEventMarker(body);
}

/** Pure: the marker of an `EventsHistoryResponse` (`{count, events: [RegistryEventInfo]}`, newest first). */
export function newestEventMarker(body: unknown): string {
  if (typeof body !== 'object' || body === null) throw new RegistryFormatError('BAD_EVENTS', 'GET /events body is not an object');
  const events = (body as Record<string, unknown>)['events'];
  if (events === null || (Array.isArray(events) && events.length === 0)) return '';
  if (!Array.isArray(events)) throw new RegistryFormatError('BAD_EVENTS', 'GET /events "events" is not a list');
  const newest: unknown = events[0];
  if (typeof newest !== 'object' || newest === null) throw new RegistryFormatError('BAD_EVENTS', 'GET /events entry is not an object');
  const { timestamp, event_type: type, agent_id: agentId } = newest as Record<string, unknown>;
  if (typeof timestamp !== 'string' || typeof type !== 'string' || typeof agentId !== 'string') {
    throw new RegistryFormatError('BAD_EVENTS', 'GET /events entry lacks timestamp, event_type or agent_id');
  }
  // Timestamps carry nanoseconds (reference §2), so two events rarely share one; type and agent
  // make the marker distinct even when they do.
  return `${timestamp} ${type} ${agentId}`;
}

async function getJson(url: string, timeoutMs: number, options: FetchOptions): Promise<unknown> {
  const chunks: Uint8Array[] = [];
  // Copied: a piece is a view of the connection's read buffer, which the next read overwrites.
  // new Uint8Array(piece), not Buffer.concat or Buffer.from: those take small copies from Node's
  // shared 8 KiB pool, whose slabs outlive the request (the events hint asks twice a second).
  await getBody(url, timeoutMs, options, (chunk) => chunks.push(new Uint8Array(chunk)));
  // Capped small bodies only (GET /events): a depth pre-scan, then JSON.parse.
  return parseJsonBounded(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), SMALL_BODY_JSON_LIMITS);
}

/**
 * Streams a 2xx body to `onChunk`, enforcing the byte cap; every failure becomes a RegistryError.
 * http:// goes through plainHttpGet (one reused read buffer: src/http/plain-http-get.ts says why),
 * https:// through node:https. Not fetch(): it loads Node's bundled undici, +16 MiB of RSS measured
 * on its first request (src/http/node-http.ts). Redirects are not followed (the registry sends none).
 * Both keep idle connections to the registry between requests.
 *
 * The timeout is a plain timer cleared when the request ends, and the caller's signal gets one
 * listener removed at the end, instead of AbortSignal.timeout() combined with the caller's signal
 * by AbortSignal.any() and handed to http.get (as until 2026-12-05). Those left per request a
 * timer running for the whole timeout (firing later with a DOMException), a WeakRef and
 * FinalizationRegistry cells on the sync's long-lived signal and a composite signal: objects that
 * outlive a poll's scavenges and are promoted, so each poll grew the old generation until the next
 * full GC (issue 9 item 4): at 10,000 agents 18.6-20.4 KiB per poll with them, 14.0-15.2 without
 * (test/bench/poll-promotion.ts --http, alternated runs).
 */
// One socket read can hold many HTTP chunks: a 7.5 MB body (10,000 agents) read in one stretch
// let no DNS query in. Every 64 KiB the transport waits one macrotask turn so queries waiting on
// the sockets are answered.
const YIELD_EVERY_BYTES = 64 * 1024;
const REQUEST_HEADERS = { accept: 'application/json' } as const;

async function getBody(url: string, timeoutMs: number, options: FetchOptions, onChunk: (chunk: Uint8Array) => void): Promise<void> {
  const caller = options.signal;
  const maxBytes = options.maxBodyBytes ?? DEFAULT_MAX_AGENTS_BODY_BYTES;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let get: HttpGet | undefined;
  const onCallerAbort = (): void => get?.destroy(new RegistryAbortedError(url));
  const tooLarge = (): RegistryFormatError => new RegistryFormatError('BODY_TOO_LARGE', `${url} body exceeds ${maxBytes} bytes`);
  // Large bodies are chunked with no Content-Length (reference §2), so the cap is counted here too.
  let total = 0;
  const sink: ResponseSink = {
    head: ({ status, contentLength }) => {
      if (status < 200 || status > 299) throw new RegistryHttpError(status, url);
      if (contentLength !== null && contentLength > maxBytes) throw tooLarge();
    },
    body: (piece) => {
      total += piece.byteLength;
      if (total > maxBytes) throw tooLarge();
      onChunk(piece);
    },
  };
  try {
    if (caller?.aborted) throw new RegistryAbortedError(url);
    const target = new URL(url);
    const transport = target.protocol === 'https:' ? httpsGet : plainHttpGet;
    get = transport(target, sink, { headers: REQUEST_HEADERS, yieldEveryBytes: YIELD_EVERY_BYTES });
    // Timeout or caller abort: the transfer is stopped (the body too, if it was streaming) and
    // `done` rejects at once; classifyFetchError names the cause from the flags, not from
    // whichever error the socket reports afterwards.
    timer = setTimeout(() => {
      timedOut = true;
      get?.destroy(new RegistryTimeoutError(url, timeoutMs));
    }, timeoutMs);
    caller?.addEventListener('abort', onCallerAbort, { once: true });
    await get.done;
  } catch (error) {
    throw classifyFetchError(error, url, timeoutMs, timedOut, caller);
  } finally {
    clearTimeout(timer);
    caller?.removeEventListener('abort', onCallerAbort);
  }
}

function classifyFetchError(error: unknown, url: string, timeoutMs: number, timedOut: boolean, caller?: AbortSignal): RegistryError {
  if (error instanceof RegistryError) return error;
  // Check the causes, not the error's name: the socket may report a reset after the request was
  // destroyed for a timeout or an abort.
  if (caller?.aborted) return new RegistryAbortedError(url);
  if (timedOut) return new RegistryTimeoutError(url, timeoutMs);
  // A connection that ended early broke the transfer; anything else that is not HTTP is a bad body.
  if (error instanceof HttpResponseError) {
    if (error.code === 'TRUNCATED') return new RegistryConnectError(url, null, { cause: error });
    return new RegistryFormatError('BAD_HTTP', `${url}: ${error.message}`, { cause: error });
  }
  // node:http reports the system error itself (ECONNREFUSED, …); a wrapped one is found by its cause.
  return new RegistryConnectError(url, systemErrorCode(error), { cause: error });
}

function systemErrorCode(error: unknown): string | null {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as Error & { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return null;
}

/** `http://h:8000/` + `/agents` without a double slash; keeps a path prefix (`/registry`). */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path;
}
