// HTTP/1.1 GETs over plain TCP sockets, each read into one buffer of its own that is reused for
// every read (net.Socket `onread`) and decoded by HttpResponseDecoder. The registry client's
// transport for http:// URLs; https:// stays on node:https (TLS has no `onread`).
//
// Why: node:http reads every chunk into a new 64 KiB ArrayBuffer, freed only when a scavenge
// reaches it (response-decoder.ts says what that cost at 10,000 agents). Here a connection's reads
// all land in its one buffer, so a poll allocates no memory outside the JS heap.
//
// Connections are kept alive as node:http's agent kept them: the sync asks the registry for its
// newest event every 500 ms and for the agents every 2 s, and a connection per request would leave
// hundreds of sockets in TIME_WAIT. Up to MAX_IDLE_PER_ORIGIN idle connections per origin are kept
// (the sync has at most two requests in flight: a poll and an events hint), unref'd, for
// IDLE_TIMEOUT_MS; a GET that finds it closed by the server before any byte of the answer is sent
// again once on a new connection (a GET is idempotent, RFC 9110 §9.2.2), as node:http does not.
import net from 'node:net';
import { HttpResponseDecoder, type ResponseSink } from './response-decoder.ts';

export interface HttpGet {
  /** Settles when the response was read whole (resolve) or failed (reject with the raw cause). */
  readonly done: Promise<void>;
  /** Stops the transfer now and rejects `done` with `error` (timeouts, caller aborts). */
  destroy(error: Error): void;
}

export interface HttpGetOptions {
  headers?: Readonly<Record<string, string>>;
  /**
   * After this many bytes read, wait one macrotask turn before reading on, so that work waiting on
   * other sockets (DNS queries) runs between the pieces of a large body.
   */
  yieldEveryBytes: number;
}

const READ_BUFFER_BYTES = 64 * 1024;
/** Below the registry's own idle timeout would be ideal; Go's default has none, so this bounds it. */
export const IDLE_TIMEOUT_MS = 15_000;

/** What a socket's events go to: the GET using it, or, while idle, the drop of the connection. */
interface ConnectionEvents {
  read(bytes: number, buffer: Buffer): boolean;
  ended(): void;
  failed(error: Error): void;
}

interface Connection {
  readonly origin: string;
  readonly socket: net.Socket;
  events: ConnectionEvents | null;
}

export const MAX_IDLE_PER_ORIGIN = 2;
const idleConnections = new Map<string, Connection[]>();

/** Connections of an origin (`host port`) kept idle right now: for tests. */
export function idleConnectionCount(origin: string): number {
  return idleConnections.get(origin)?.length ?? 0;
}

export function plainHttpGet(url: URL, sink: ResponseSink, options: HttpGetOptions): HttpGet {
  // WHATWG URLs keep an IPv6 literal in brackets; the socket wants the address alone.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? 80 : Number(url.port);
  const origin = `${host} ${port}`;
  const head = requestHead(url, options.headers ?? {});
  let settled = false;
  let connection: Connection | null = null;
  let resolveDone!: () => void;
  let rejectDone!: (error: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });

  const settle = (error: unknown, reusable = false): void => {
    if (settled) return;
    settled = true;
    if (connection !== null) {
      if (reusable) keepIdle(connection);
      else closeConnection(connection);
    }
    if (error === undefined) resolveDone();
    else rejectDone(error);
  };

  const attempt = (reused: Connection | null): void => {
    const decoder = new HttpResponseDecoder(sink);
    let received = 0;
    let sinceYield = 0;
    const current = reused ?? openConnection(origin, host, port);
    connection = current;
    // A kept connection the server closed meanwhile fails before any byte: once more on a new one.
    const retryOrFail = (error: unknown): void => {
      if (settled) return;
      if (reused !== null && received === 0) {
        closeConnection(current);
        attempt(null);
      } else {
        settle(error);
      }
    };
    current.events = {
      read: (bytes, buffer) => {
        if (settled) return false;
        received += bytes;
        try {
          if (decoder.write(buffer, 0, bytes)) {
            settle(undefined, decoder.reusable);
            // Kept: it reads on while idle, so that the server's close (or stray bytes) is seen.
            return current.events === null && !current.socket.destroyed;
          }
        } catch (error) {
          settle(error);
          return false;
        }
        sinceYield += bytes;
        if (sinceYield < options.yieldEveryBytes) return true;
        sinceYield = 0;
        // Returning false pauses the socket; it reads on after the queries that waited.
        setImmediate(() => {
          if (!settled) current.socket.resume();
        });
        return false;
      },
      ended: () => {
        try {
          decoder.end();
          settle(undefined);
        } catch (error) {
          retryOrFail(error);
        }
      },
      failed: retryOrFail,
    };
    if (reused !== null) {
      current.socket.ref();
      current.socket.setTimeout(0);
      current.socket.resume();
      current.socket.write(head);
    } else {
      current.socket.once('connect', () => current.socket.write(head));
    }
  };

  // The most recently used first: the oldest is the likeliest to have been closed by the server.
  const idle = idleConnections.get(origin)?.pop() ?? null;
  attempt(idle);

  return { done, destroy: (error) => settle(error) };
}

function openConnection(origin: string, host: string, port: number): Connection {
  const buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  const connection: Connection = {
    origin,
    events: null,
    socket: net.connect({
      host,
      port,
      onread: {
        buffer,
        callback: (bytes: number, read: Uint8Array): boolean => connection.events?.read(bytes, read as Buffer) ?? dropIdle(connection),
      },
    }),
  };
  const { socket } = connection;
  socket.on('error', (error) => (connection.events ? connection.events.failed(error) : closeConnection(connection)));
  socket.on('end', () => (connection.events ? connection.events.ended() : closeConnection(connection)));
  // A close without 'end' or 'error' (destroyed by the peer's RST after a clean read, say).
  socket.on('close', () => (connection.events ? connection.events.failed(new Error('connection closed before the end of the response')) : closeConnection(connection)));
  socket.on('timeout', () => closeConnection(connection));
  return connection;
}

/** Bytes on an idle connection answer nothing that was asked: the connection cannot be trusted. */
function dropIdle(connection: Connection): boolean {
  closeConnection(connection);
  return false;
}

function keepIdle(connection: Connection): void {
  let idle = idleConnections.get(connection.origin);
  if ((idle?.length ?? 0) >= MAX_IDLE_PER_ORIGIN || connection.socket.destroyed) return closeConnection(connection);
  if (idle === undefined) idleConnections.set(connection.origin, (idle = []));
  connection.events = null;
  idle.push(connection);
  // An idle connection neither keeps the process alive nor stays open for good.
  connection.socket.unref();
  connection.socket.setTimeout(IDLE_TIMEOUT_MS);
}

function closeConnection(connection: Connection): void {
  connection.events = null;
  const idle = idleConnections.get(connection.origin);
  const at = idle?.indexOf(connection) ?? -1;
  if (at >= 0) {
    idle!.splice(at, 1);
    if (idle!.length === 0) idleConnections.delete(connection.origin);
  }
  connection.socket.destroy();
}

/** Pure: the request head of a GET for `url` (HTTP/1.1: the connection persists unless closed). */
export function requestHead(url: URL, headers: Readonly<Record<string, string>>): string {
  const lines = [`GET ${url.pathname || '/'}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  // Credentials in the URL are sent as Basic, as node:http does (RFC 7617).
  if (url.username !== '' || url.password !== '') {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    lines.push(`Authorization: Basic ${Buffer.from(credentials).toString('base64')}`);
  }
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new TypeError(`header ${JSON.stringify(name)} contains a line break`);
    lines.push(`${name}: ${value}`);
  }
  lines.push('', '');
  return lines.join('\r\n');
}
