// An HTTP/1.1 response decoder (RFC 9112) over byte chunks: status line and header fields, then the
// body framed by Transfer-Encoding: chunked, Content-Length, or the end of the connection.
//
// Why not node:http for the registry's GET: node:http reads the socket through a fresh 64 KiB
// ArrayBuffer per read. At 10,000 agents a poll moves 7.5 MB, about 120 of them, and each is freed
// only when a scavenge sweeps its JS wrapper; with fewer JS objects per poll (issue 9 item 4) there
// were fewer scavenges and up to the whole body waited: external memory swung from 16 to 32 MiB.
// This decoder is fed from one reused read buffer (plain-http-get.ts) and hands out views of it.
//
// Only what a client of one JSON API needs: no upgrades, no content codings (the request sends no
// Accept-Encoding), one response per request. Whether the connection may carry the next request
// (RFC 9112 §9.3) is `reusable` once the response is done. Everything else that is not HTTP/1.x is
// an HttpResponseError with a code.

const HTTP_RESPONSE_ERROR_CODES = ['BAD_STATUS_LINE', 'BAD_HEADER', 'HEAD_TOO_LARGE', 'BAD_CONTENT_LENGTH', 'UNSUPPORTED_TRANSFER_CODING', 'BAD_CHUNK', 'TRUNCATED'] as const;
export type HttpResponseErrorCode = (typeof HTTP_RESPONSE_ERROR_CODES)[number];

export class HttpResponseError extends Error {
  readonly code: HttpResponseErrorCode;

  constructor(code: HttpResponseErrorCode, message: string) {
    super(message);
    this.name = 'HttpResponseError';
    this.code = code;
  }
}

export interface ResponseHead {
  status: number;
  /** The declared body length, or null when the body is chunked or runs to the connection's end. */
  contentLength: number | null;
}

export interface ResponseSink {
  /** The final (non-1xx) head; may throw to refuse the response (a status, a declared length). */
  head(head: ResponseHead): void;
  /** A piece of the body: a view valid only during the call (the read buffer is reused). */
  body(piece: Uint8Array): void;
}

export interface ResponseDecoderLimits {
  /** Status lines and header fields of every head (1xx included), and chunked trailers. */
  maxHeadBytes: number;
}

export const DEFAULT_RESPONSE_DECODER_LIMITS: ResponseDecoderLimits = { maxHeadBytes: 16 * 1024 };

// Decoder states (numbers, not an enum: the project builds with erasableSyntaxOnly).
const Phase = {
  Head: 0,
  LengthBody: 1,
  CloseBody: 2,
  ChunkSize: 3,
  ChunkExtension: 4,
  ChunkSizeLf: 5,
  ChunkData: 6,
  ChunkDataCr: 7,
  ChunkDataLf: 8,
  Trailer: 9,
  Done: 10,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

const CR = 0x0d;
const LF = 0x0a;
// 2^53 needs 14 hex digits; more than that is no length anyone can send.
const MAX_CHUNK_SIZE_DIGITS = 13;
const MAX_CHUNK_EXTENSION_BYTES = 4096;
const STATUS_LINE = /^HTTP\/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?$/;
// RFC 9110 §5.6.2 token.
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export class HttpResponseDecoder {
  readonly #sink: ResponseSink;
  readonly #maxHeadBytes: number;
  #phase: Phase = Phase.Head;
  /** Bytes of heads and trailers so far, against maxHeadBytes. */
  #headBytes = 0;
  #head = '';
  /**
   * The line being scanned has no byte but CR yet. False at the start of a head (whose first line
   * is the status line), true at the start of the trailers (where an empty line ends them at once).
   */
  #lineEmpty = false;
  /** Body bytes still due: of the Content-Length, or of the current chunk. */
  #remaining = 0;
  #sizeDigits = 0;
  #extensionBytes = 0;
  /** The final head allows another request on this connection (HTTP/1.1, no `Connection: close`, framed body). */
  #persistent = false;
  /** Bytes came after the response's end: the connection's framing is lost. */
  #trailingBytes = false;

  constructor(sink: ResponseSink, limits: ResponseDecoderLimits = DEFAULT_RESPONSE_DECODER_LIMITS) {
    this.#sink = sink;
    this.#maxHeadBytes = limits.maxHeadBytes;
  }

  /** True once the whole response was read; later bytes are ignored. */
  get done(): boolean {
    return this.#phase === Phase.Done;
  }

  /** Done, and the connection may carry another request: persistent, and nothing came after the response. */
  get reusable(): boolean {
    return this.#phase === Phase.Done && this.#persistent && !this.#trailingBytes;
  }

  /** Feeds `chunk[start, end)`; returns `done`. Throws HttpResponseError, or what the sink throws. */
  write(chunk: Buffer, start = 0, end = chunk.byteLength): boolean {
    let at = start;
    if (this.#phase === Phase.Done && at < end) this.#trailingBytes = true;
    while (at < end && this.#phase !== Phase.Done) {
      switch (this.#phase) {
        case Phase.Head:
          at = this.#scanHead(chunk, at, end);
          break;
        case Phase.LengthBody:
        case Phase.ChunkData: {
          const take = Math.min(this.#remaining, end - at);
          this.#sink.body(chunk.subarray(at, at + take));
          at += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#phase = this.#phase === Phase.LengthBody ? Phase.Done : Phase.ChunkDataCr;
          break;
        }
        case Phase.CloseBody:
          this.#sink.body(chunk.subarray(at, end));
          at = end;
          break;
        case Phase.Trailer:
          at = this.#scanTrailer(chunk, at, end);
          break;
        default:
          this.#chunkFraming(chunk[at]!);
          at++;
      }
    }
    if (at < end) this.#trailingBytes = true;
    return this.#phase === Phase.Done;
  }

  /** The connection ended: complete for a close-delimited body, TRUNCATED anywhere else. */
  end(): void {
    if (this.#phase === Phase.CloseBody) this.#phase = Phase.Done;
    if (this.#phase !== Phase.Done) throw new HttpResponseError('TRUNCATED', 'connection closed before the end of the response');
  }

  /** Collects head bytes up to the empty line that ends the fields (bare LF accepted, RFC 9112 §2.2). */
  #scanHead(chunk: Buffer, start: number, end: number): number {
    const stop = this.#findEmptyLine(chunk, start, end);
    const to = stop < 0 ? end : stop;
    this.#countHeadBytes(to - start);
    this.#head += chunk.toString('latin1', start, to);
    if (stop >= 0) this.#finishHead();
    return to;
  }

  #scanTrailer(chunk: Buffer, start: number, end: number): number {
    // Trailer fields are read for framing only: RFC 9110 §6.5 lets a recipient discard them.
    const stop = this.#findEmptyLine(chunk, start, end);
    const to = stop < 0 ? end : stop;
    this.#countHeadBytes(to - start);
    if (stop >= 0) this.#phase = Phase.Done;
    return to;
  }

  /** The index just past the LF that ends an empty line, or -1 when `chunk[start, end)` has none. */
  #findEmptyLine(chunk: Buffer, start: number, end: number): number {
    for (let i = start; i < end; i++) {
      const byte = chunk[i];
      if (byte === LF) {
        if (this.#lineEmpty) return i + 1;
        this.#lineEmpty = true;
      } else if (byte !== CR) {
        this.#lineEmpty = false;
      }
    }
    return -1;
  }

  #countHeadBytes(count: number): void {
    this.#headBytes += count;
    if (this.#headBytes > this.#maxHeadBytes) throw new HttpResponseError('HEAD_TOO_LARGE', `response head or trailers exceed ${this.#maxHeadBytes} bytes`);
  }

  #finishHead(): void {
    const lines = this.#head.split(/\r?\n/);
    this.#head = '';
    // A head starts on its first line; the status line is never empty.
    while (lines[0] === '') lines.shift();
    const status = STATUS_LINE.exec(lines[0] ?? '');
    if (status === null) throw new HttpResponseError('BAD_STATUS_LINE', `not an HTTP/1.x status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    const code = Number(status[2]);
    const fields = parseFields(lines.slice(1));
    if (code < 200) {
      // RFC 9110 §15.2: interim responses precede the final one; 101 would switch protocols, asked by nobody.
      if (code === 101) throw new HttpResponseError('BAD_STATUS_LINE', 'unrequested protocol switch (101)');
      this.#lineEmpty = false;
      return;
    }
    const framing = bodyFraming(code, fields);
    this.#persistent = status[1] === '1' && framing.kind !== 'close' && !hasCloseOption(fields);
    this.#sink.head({ status: code, contentLength: framing.kind === 'length' ? framing.length : null });
    if (framing.kind === 'chunked') {
      this.#phase = Phase.ChunkSize;
      this.#sizeDigits = 0;
      this.#remaining = 0;
    } else if (framing.kind === 'close') {
      this.#phase = Phase.CloseBody;
    } else {
      this.#remaining = framing.length;
      this.#phase = framing.length === 0 ? Phase.Done : Phase.LengthBody;
    }
  }

  /** One byte of a chunk-size line or of the CRLF after a chunk's data (RFC 9112 §7.1). */
  #chunkFraming(byte: number): void {
    switch (this.#phase) {
      case Phase.ChunkSize: {
        const digit = hexValue(byte);
        if (digit >= 0) {
          if (++this.#sizeDigits > MAX_CHUNK_SIZE_DIGITS) throw new HttpResponseError('BAD_CHUNK', 'chunk size too large');
          this.#remaining = this.#remaining * 16 + digit;
          return;
        }
        if (this.#sizeDigits === 0) throw new HttpResponseError('BAD_CHUNK', 'chunk size line without a size');
        if (byte === CR) this.#phase = Phase.ChunkSizeLf;
        else if (byte === LF) this.#endChunkSizeLine();
        else if (byte === 0x3b || byte === 0x20 || byte === 0x09) {
          this.#phase = Phase.ChunkExtension;
          this.#extensionBytes = 1;
        } else throw new HttpResponseError('BAD_CHUNK', 'chunk size is not hexadecimal');
        return;
      }
      case Phase.ChunkExtension:
        // Extensions are ignored (RFC 9112 §7.1.1), but bounded.
        if (byte === LF) this.#endChunkSizeLine();
        else if (++this.#extensionBytes > MAX_CHUNK_EXTENSION_BYTES) throw new HttpResponseError('BAD_CHUNK', `chunk extension exceeds ${MAX_CHUNK_EXTENSION_BYTES} bytes`);
        return;
      case Phase.ChunkSizeLf:
        if (byte !== LF) throw new HttpResponseError('BAD_CHUNK', 'chunk size line not ended by CRLF');
        this.#endChunkSizeLine();
        return;
      case Phase.ChunkDataCr:
        if (byte === CR) this.#phase = Phase.ChunkDataLf;
        else if (byte === LF) this.#nextChunk();
        else throw new HttpResponseError('BAD_CHUNK', 'chunk data longer than its size');
        return;
      case Phase.ChunkDataLf:
        if (byte !== LF) throw new HttpResponseError('BAD_CHUNK', 'chunk data not ended by CRLF');
        this.#nextChunk();
        return;
    }
  }

  #endChunkSizeLine(): void {
    if (this.#remaining === 0) {
      this.#phase = Phase.Trailer;
      this.#lineEmpty = true;
    } else {
      this.#phase = Phase.ChunkData;
    }
  }

  #nextChunk(): void {
    this.#phase = Phase.ChunkSize;
    this.#sizeDigits = 0;
    this.#remaining = 0;
  }
}

type BodyFraming = { kind: 'chunked' } | { kind: 'length'; length: number } | { kind: 'close' };

/** Pure: header fields as lower-cased name → values in order; obs-fold and bad names refused. */
export function parseFields(lines: readonly string[]): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const line of lines) {
    if (line === '') continue;
    // RFC 9112 §5.2: obs-fold may be rejected; a field line starting with whitespace is one.
    if (line[0] === ' ' || line[0] === '\t') throw new HttpResponseError('BAD_HEADER', 'folded header field line');
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!FIELD_NAME.test(name)) throw new HttpResponseError('BAD_HEADER', `not a header field: ${JSON.stringify(line.slice(0, 80))}`);
    const lower = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    const values = fields.get(lower);
    if (values === undefined) fields.set(lower, [value]);
    else values.push(value);
  }
  return fields;
}

/** Pure: RFC 9112 §6.3, as seen by a client that sent a GET. */
export function bodyFraming(status: number, fields: ReadonlyMap<string, readonly string[]>): BodyFraming {
  if (status === 204 || status === 304) return { kind: 'length', length: 0 };
  const codings = fields.get('transfer-encoding');
  if (codings !== undefined) {
    // Transfer-Encoding overrides Content-Length (§6.3 item 3); no coding but chunked was asked for.
    const list = codings.flatMap((value) => value.split(',')).map((coding) => coding.trim().toLowerCase()).filter((coding) => coding !== '');
    if (list.length !== 1 || list[0] !== 'chunked') throw new HttpResponseError('UNSUPPORTED_TRANSFER_CODING', `transfer coding ${JSON.stringify(codings.join(', '))} is not chunked`);
    return { kind: 'chunked' };
  }
  const lengths = fields.get('content-length');
  if (lengths === undefined) return { kind: 'close' };
  // §6.3 item 5: a list of identical values is one value; anything else is unrecoverable.
  const values = new Set(lengths.flatMap((value) => value.split(',')).map((value) => value.trim()));
  const [only] = values;
  if (values.size !== 1 || only === undefined || !/^[0-9]{1,15}$/.test(only)) throw new HttpResponseError('BAD_CONTENT_LENGTH', `invalid Content-Length ${JSON.stringify(lengths.join(', '))}`);
  return { kind: 'length', length: Number(only) };
}

/** Pure: a `Connection: close` option among the fields (RFC 9112 §9.6). */
function hasCloseOption(fields: ReadonlyMap<string, readonly string[]>): boolean {
  return (fields.get('connection') ?? []).some((value) => value.split(',').some((option) => option.trim().toLowerCase() === 'close'));
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
