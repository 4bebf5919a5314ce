// One HTTP/1.1 GET over a plain TCP socket, read into a reused buffer (net.Socket `onread`) and
// decoded by HttpResponseDecoder. The registry client's transport for http:// URLs; https:// stays
// on node:https (TLS has no `onread`).
//
// Why: node:http reads every chunk into a new 64 KiB ArrayBuffer, freed only when a scavenge
// reaches it (response-decoder.ts says what that cost at 10,000 agents). Here a GET reads into one
// of a few buffers kept between polls, so a poll allocates no memory outside the JS heap.
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
// Polls run one GET at a time; a second kept buffer covers the event-marker GET overlapping one.
const MAX_IDLE_READ_BUFFERS = 2;
const idleReadBuffers: Buffer[] = [];

export function plainHttpGet(url: URL, sink: ResponseSink, options: HttpGetOptions): HttpGet {
  const decoder = new HttpResponseDecoder(sink);
  const readBuffer = idleReadBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  let settled = false;
  let sinceYield = 0;
  let resolveDone!: () => void;
  let rejectDone!: (error: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });

  const settle = (error: unknown): void => {
    if (settled) return;
    settled = true;
    socket.destroy();
    // The buffer goes back only once the socket is destroyed: no read can land in it afterwards.
    if (idleReadBuffers.length < MAX_IDLE_READ_BUFFERS) idleReadBuffers.push(readBuffer);
    if (error === undefined) resolveDone();
    else rejectDone(error);
  };

  const socket = net.connect({
    // WHATWG URLs keep an IPv6 literal in brackets; the socket wants the address alone.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 80 : Number(url.port),
    onread: {
      buffer: readBuffer,
      callback: (bytes: number, buffer: Uint8Array): boolean => {
        if (settled) return false;
        try {
          if (decoder.write(buffer as Buffer, 0, bytes)) {
            settle(undefined);
            return false;
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
          if (!settled) socket.resume();
        });
        return false;
      },
    },
  });
  socket.on('connect', () => socket.write(requestHead(url, options.headers ?? {})));
  socket.on('error', (error) => settle(error));
  socket.on('end', () => {
    try {
      decoder.end();
      settle(undefined);
    } catch (error) {
      settle(error);
    }
  });
  // A close without 'end' or 'error' (destroyed by the peer's RST after a clean read, say).
  socket.on('close', () => settle(new Error('connection closed before the end of the response')));

  return { done, destroy: (error) => settle(error) };
}

/** Pure: the request head of a GET for `url`, with `Connection: close` (one request per connection). */
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
  lines.push('Connection: close', '', '');
  return lines.join('\r\n');
}
