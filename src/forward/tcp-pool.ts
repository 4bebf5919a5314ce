// Persistent, pipelined DNS-over-TCP connections to one upstream (RFC 7766), used for the retry
// after a truncated UDP answer and for every query when `forceTcp` is set (NodeLocal DNSCache's
// `force_tcp`: a TCP conntrack entry dies with its connection, a UDP one lingers 30 s and races;
// RFC 7766 §5 allows TCP without trying UDP first).
//
// - Connection reuse and pipelining (RFC 7766 §6.2.1, §6.2.1.1): queries are written as they come,
//   many in flight per connection, without waiting for earlier answers.
// - Few connections (§6.2.2): a query goes to the first connection with room, so one connection
//   carries the load until `maxQueriesPerConnection` are in flight; only then is another opened,
//   up to `maxConnections`; beyond that, queries wait in a FIFO queue (their timeout still runs).
// - IDs (§6.2.1): never one in flight on the same connection, nor one we gave up on whose late
//   answer may still come; responses are matched by ID and question, in any order (§7).
// - Framing (RFC 1035 §4.2.2, RFC 7766 §8): a 2-byte length; length and message go out in one
//   write; a response may arrive split across segments, or several in one segment.
// - Idle connections are closed after `idleTimeoutMs` (§6.2.3). A connection the server closes
//   is replaced on the next query; its unanswered queries are retried once on a new connection
//   (§6.2.4: "Clients SHOULD retry unanswered queries if the connection closes").
// - A connection on which nothing at all arrived for a whole query timeout is taken as dead
//   (a silent peer, a lost path) and closed, so later queries do not queue behind it.

import net from 'node:net';
import { buildUpstreamQuery, matchUpstreamResponse } from './message.ts';
import type { UpstreamAddress, UpstreamQuery } from './types.ts';
import { networkOutcome, randomMessageId, type ExchangeOutcome } from './udp-exchange.ts';

export interface TcpPoolOptions {
  /** Connections open at once to this upstream (default 4). */
  maxConnections?: number;
  /** Queries in flight on one connection (default 100). */
  maxQueriesPerConnection?: number;
  /** An idle connection is closed after this (default 10 s, CoreDNS `expire`). */
  idleTimeoutMs?: number;
  /** A connection still not established after this is abandoned (default 2 s). */
  connectTimeoutMs?: number;
  udpPayloadSize?: number;
  /** The ID source; crypto by default. */
  randomId?: () => number;
}

export const TCP_POOL_DEFAULTS = {
  maxConnections: 4,
  maxQueriesPerConnection: 100,
  idleTimeoutMs: 10_000,
  connectTimeoutMs: 2_000,
} as const;

export interface TcpExchangeOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** TCP outcomes are the UDP ones without `truncated`: over TCP the message is whatever came. */
export type TcpOutcome = Exclude<ExchangeOutcome, { kind: 'truncated' }>;

export interface TcpPoolStats {
  /** Connections open or being opened. */
  connections: number;
  /** Connections opened since the pool was created. */
  opened: number;
  inFlight: number;
  queued: number;
}

export interface TcpPool {
  exchange(query: UpstreamQuery, options: TcpExchangeOptions): Promise<TcpOutcome>;
  stats(): TcpPoolStats;
  /** Closes every connection; queries still waiting end as `network` failures. */
  close(): void;
}

interface PendingQuery {
  query: UpstreamQuery;
  resolve: (outcome: TcpOutcome) => void;
  timer: NodeJS.Timeout;
  signal: AbortSignal | undefined;
  onAbort: () => void;
  connection: Connection | null;
  id: number;
  sentAt: number;
  /** RFC 7766 §6.2.4 retry after a close: at most once per query. */
  retried: boolean;
  settled: boolean;
}

interface Connection {
  socket: net.Socket;
  inFlight: Map<number, PendingQuery>;
  /** IDs of queries we stopped waiting for: not reused on this connection (RFC 7766 §6.2.1). */
  abandoned: Set<number>;
  /** Bytes received and not yet a whole frame. */
  pending: Buffer | null;
  established: boolean;
  /** The upstream sent FIN: no new query goes here; 'close' follows. */
  ending: boolean;
  closed: boolean;
  lastReceiveAt: number;
  idleTimer: NodeJS.Timeout | null;
  connectTimer: NodeJS.Timeout | null;
  error: string | null;
}

const ABORTED: TcpOutcome = Object.freeze({ kind: 'aborted' });
const TIMEOUT: TcpOutcome = Object.freeze({ kind: 'timeout' });
// Past this many abandoned IDs a connection is not worth keeping: the upstream is dropping queries.
const MAX_ABANDONED_PER_CONNECTION = 256;

export function createTcpPool(upstream: UpstreamAddress, options: TcpPoolOptions = {}): TcpPool {
  const maxConnections = options.maxConnections ?? TCP_POOL_DEFAULTS.maxConnections;
  const maxPerConnection = options.maxQueriesPerConnection ?? TCP_POOL_DEFAULTS.maxQueriesPerConnection;
  const idleTimeoutMs = options.idleTimeoutMs ?? TCP_POOL_DEFAULTS.idleTimeoutMs;
  const connectTimeoutMs = options.connectTimeoutMs ?? TCP_POOL_DEFAULTS.connectTimeoutMs;
  const randomId = options.randomId ?? randomMessageId;
  const connections: Connection[] = [];
  const queue: PendingQuery[] = [];
  let opened = 0;
  let closed = false;

  function settle(pending: PendingQuery, outcome: TcpOutcome): void {
    if (pending.settled) return;
    pending.settled = true;
    clearTimeout(pending.timer);
    pending.signal?.removeEventListener('abort', pending.onAbort);
    pending.resolve(outcome);
  }

  /** Stops waiting for a query: off its connection (ID kept reserved) or out of the queue. */
  function detach(pending: PendingQuery): void {
    const connection = pending.connection;
    if (connection) {
      pending.connection = null;
      if (connection.inFlight.get(pending.id) === pending) {
        connection.inFlight.delete(pending.id);
        if (!connection.closed) {
          connection.abandoned.add(pending.id);
          if (connection.abandoned.size > MAX_ABANDONED_PER_CONNECTION) retire(connection, 'too many unanswered queries');
          else connectionFreed(connection);
        }
      }
    } else {
      const index = queue.indexOf(pending);
      if (index >= 0) queue.splice(index, 1);
    }
  }

  function pickId(connection: Connection): number {
    for (let attempt = 0; attempt < 64; attempt++) {
      const id = randomId() & 0xffff;
      if (!connection.inFlight.has(id) && !connection.abandoned.has(id)) return id;
    }
    // Only reachable with a broken ID source; a scan still finds a free ID (≤ 100 + 256 are taken).
    for (let id = 0; id <= 0xffff; id++) if (!connection.inFlight.has(id) && !connection.abandoned.has(id)) return id;
    throw new Error('no free DNS message ID on the connection');
  }

  function send(connection: Connection, pending: PendingQuery): void {
    const id = pickId(connection);
    pending.id = id;
    pending.connection = connection;
    pending.sentAt = performance.now();
    connection.inFlight.set(id, pending);
    if (connection.idleTimer) {
      clearTimeout(connection.idleTimer);
      connection.idleTimer = null;
    }
    const message = buildUpstreamQuery(id, pending.query, options.udpPayloadSize);
    const frame = Buffer.allocUnsafe(2 + message.length);
    frame.writeUInt16BE(message.length, 0);
    message.copy(frame, 2);
    // One write for length and message (RFC 7766 §8). Writes before `connect` are buffered by net.
    connection.socket.write(frame);
  }

  function dispatch(pending: PendingQuery): void {
    for (const connection of connections) {
      if (!connection.closed && !connection.ending && connection.inFlight.size < maxPerConnection) {
        send(connection, pending);
        return;
      }
    }
    if (connections.length < maxConnections) {
      send(openConnection(), pending);
      return;
    }
    queue.push(pending);
  }

  /** A slot on `connection` came free: give it to the oldest waiting query, or start the idle clock. */
  function connectionFreed(connection: Connection): void {
    while (queue.length > 0 && !connection.closed && !connection.ending && connection.inFlight.size < maxPerConnection) {
      send(connection, queue.shift()!);
    }
    if (connection.inFlight.size === 0 && !connection.closed && connection.idleTimer === null) {
      connection.idleTimer = setTimeout(() => retire(connection, 'idle'), idleTimeoutMs);
      connection.idleTimer.unref();
    }
  }

  function openConnection(): Connection {
    opened++;
    const socket = net.connect({ host: upstream.host, port: upstream.port, family: upstream.family === 'ipv6' ? 6 : 4 });
    socket.setNoDelay(true); // pipelined small frames must not wait for Nagle
    const connection: Connection = {
      socket,
      inFlight: new Map(),
      abandoned: new Set(),
      pending: null,
      established: false,
      ending: false,
      closed: false,
      lastReceiveAt: -Infinity,
      idleTimer: null,
      connectTimer: null,
      error: null,
    };
    connection.connectTimer = setTimeout(() => retire(connection, 'connect timeout'), connectTimeoutMs);
    connection.connectTimer.unref();
    connections.push(connection);
    socket.on('connect', () => {
      connection.established = true;
      if (connection.connectTimer) clearTimeout(connection.connectTimer);
      connection.connectTimer = null;
    });
    socket.on('data', (chunk: Buffer) => receive(connection, chunk));
    socket.on('end', () => {
      connection.ending = true;
    });
    socket.on('error', (error) => {
      connection.error = networkErrorText(error);
    });
    socket.on('close', () => connectionClosed(connection));
    return connection;
  }

  function receive(connection: Connection, chunk: Buffer): void {
    connection.lastReceiveAt = performance.now();
    const data = connection.pending ? Buffer.concat([connection.pending, chunk]) : chunk;
    let offset = 0;
    while (data.length - offset >= 2) {
      const length = data.readUInt16BE(offset);
      if (data.length - offset - 2 < length) break;
      // A copy: the frame must not keep the whole chunk alive in a cache.
      const frame = Buffer.from(data.subarray(offset + 2, offset + 2 + length));
      offset += 2 + length;
      deliver(connection, frame);
      if (connection.closed) return;
    }
    connection.pending = offset < data.length ? Buffer.from(data.subarray(offset)) : null;
  }

  function deliver(connection: Connection, frame: Buffer): void {
    if (frame.length < 2) return;
    const id = frame.readUInt16BE(0);
    const pending = connection.inFlight.get(id);
    if (!pending) {
      connection.abandoned.delete(id); // the late answer to a query we gave up on: the ID is free again
      return;
    }
    // RFC 7766 §7: match by ID and question; anything else is not this query's answer.
    if (matchUpstreamResponse(frame, id, pending.query) !== 'ok') return;
    connection.inFlight.delete(id);
    pending.connection = null;
    settle(pending, { kind: 'response', response: frame });
    connectionFreed(connection);
  }

  function connectionClosed(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    if (connection.idleTimer) clearTimeout(connection.idleTimer);
    if (connection.connectTimer) clearTimeout(connection.connectTimer);
    const index = connections.indexOf(connection);
    if (index >= 0) connections.splice(index, 1);
    const unanswered = [...connection.inFlight.values()];
    connection.inFlight.clear();
    const error = connection.error ?? (connection.established ? 'connection closed by upstream' : 'connection failed');
    for (const pending of unanswered) {
      pending.connection = null;
      // Retry once on a fresh connection, but only if this one had worked: a refused connect
      // would be refused again.
      if (!closed && connection.established && !pending.retried) {
        pending.retried = true;
        dispatch(pending);
      } else {
        settle(pending, { kind: 'network', error });
      }
    }
    // The connection count went down: queued queries may now open one.
    while (!closed && queue.length > 0 && connections.length < maxConnections) {
      const fresh = openConnection();
      send(fresh, queue.shift()!);
      connectionFreed(fresh);
    }
  }

  function onTimeout(pending: PendingQuery): void {
    const connection = pending.connection;
    // Nothing at all came back on this connection since the query went out, for a whole timeout:
    // treat the connection as dead rather than letting later queries queue behind it. Retired
    // before the query is detached, so the freed slot is not handed to a queued query.
    if (connection && !connection.closed && connection.lastReceiveAt < pending.sentAt) retire(connection, 'no response on the connection');
    detach(pending);
    settle(pending, TIMEOUT);
  }

  /**
   * Takes a connection out of use at once and closes it; its unanswered queries are handled by
   * `connectionClosed` when the socket's 'close' event comes.
   */
  function retire(connection: Connection, reason: string): void {
    connection.ending = true;
    connection.error ??= reason;
    connection.socket.destroy();
  }

  return {
    exchange(query, exchangeOptions) {
      const { signal } = exchangeOptions;
      if (closed) return Promise.resolve({ kind: 'network', error: 'tcp pool closed' });
      if (signal?.aborted) return Promise.resolve(ABORTED);
      return new Promise<TcpOutcome>((resolve) => {
        const pending: PendingQuery = {
          query,
          resolve,
          timer: setTimeout(() => onTimeout(pending), exchangeOptions.timeoutMs),
          signal,
          onAbort: () => {
            detach(pending);
            settle(pending, ABORTED);
          },
          connection: null,
          id: -1,
          sentAt: 0,
          retried: false,
          settled: false,
        };
        signal?.addEventListener('abort', pending.onAbort, { once: true });
        try {
          dispatch(pending);
        } catch (error) {
          detach(pending);
          settle(pending, networkOutcome(error) as TcpOutcome);
        }
      });
    },
    stats() {
      let inFlight = 0;
      for (const connection of connections) inFlight += connection.inFlight.size;
      return { connections: connections.length, opened, inFlight, queued: queue.length };
    },
    close() {
      if (closed) return;
      closed = true;
      for (const pending of queue.splice(0)) settle(pending, { kind: 'network', error: 'tcp pool closed' });
      for (const connection of [...connections]) {
        connection.error = 'tcp pool closed';
        retire(connection, 'tcp pool closed');
        // 'close' is emitted asynchronously; settle now so nobody waits for it.
        connectionClosed(connection);
      }
    },
  };
}

function networkErrorText(error: unknown): string {
  const outcome = networkOutcome(error);
  return outcome.kind === 'network' ? outcome.error : 'network error';
}
