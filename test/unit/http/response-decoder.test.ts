import { describe, expect, it } from 'vitest';
import { bodyFraming, HttpResponseDecoder, HttpResponseError, parseFields, type ResponseHead } from '../../../src/http/response-decoder.ts';

interface Decoded {
  heads: ResponseHead[];
  body: string;
  done: boolean;
}

/** Feeds `pieces` in order (then EOF when `close`), collecting what the sink saw. */
function decode(pieces: readonly (string | Buffer)[], options: { close?: boolean; maxHeadBytes?: number } = {}): Decoded {
  const heads: ResponseHead[] = [];
  const body: Buffer[] = [];
  const decoder = new HttpResponseDecoder({ head: (head) => heads.push(head), body: (piece) => body.push(Buffer.from(piece)) }, { maxHeadBytes: options.maxHeadBytes ?? 16 * 1024 });
  for (const piece of pieces) decoder.write(typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece);
  if (options.close) decoder.end();
  return { heads, body: Buffer.concat(body).toString('latin1'), done: decoder.done };
}

/** Every way of cutting `text` in two, and one byte at a time: each must decode like the whole. */
function splits(text: string): string[][] {
  const ways = [[text], [...text]];
  for (let at = 1; at < text.length; at++) ways.push([text.slice(0, at), text.slice(at)]);
  return ways;
}

function errorCode(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof HttpResponseError) return error.code;
    throw error;
  }
  return 'no error';
}

const CHUNKED = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n'
  + '4\r\n{"ag\r\n' + 'b;name=value\r\nents":null,\r\n' + '0009 \r\n"count":0\r\n' + '1\r\n}\r\n' + '0\r\nX-Trailer: yes\r\n\r\n';

describe('HttpResponseDecoder', () => {
  it('reads a Content-Length body and reports the status and the declared length, however the bytes are cut', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nServer: x\r\n\r\n{"a":[1,2]}';
    for (const pieces of splits(text)) {
      expect(decode(pieces)).toEqual({ heads: [{ status: 200, contentLength: 11 }], body: '{"a":[1,2]}', done: true });
    }
  });

  it('decodes chunked framing with extensions, leading zeros, whitespace and trailers, however the bytes are cut', () => {
    for (const pieces of splits(CHUNKED)) {
      expect(decode(pieces)).toEqual({ heads: [{ status: 200, contentLength: null }], body: '{"agents":null,"count":0}', done: true });
    }
  });

  it('reads a body without framing to the end of the connection, and only then is done', () => {
    const open = decode(['HTTP/1.0 200 OK\r\n\r\n', 'part one, ', 'part two']);
    expect(open).toEqual({ heads: [{ status: 200, contentLength: null }], body: 'part one, part two', done: false });
    expect(decode(['HTTP/1.0 200 OK\r\n\r\n', 'all'], { close: true })).toMatchObject({ body: 'all', done: true });
  });

  it('skips interim 1xx responses and reports only the final head', () => {
    const text = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}';
    for (const pieces of splits(text)) expect(decode(pieces)).toEqual({ heads: [{ status: 200, contentLength: 2 }], body: '{}', done: true });
  });

  it('is done at the head for 204, 304 and Content-Length: 0, and ignores what follows a complete response', () => {
    expect(decode(['HTTP/1.1 204 No Content\r\nContent-Length: 50\r\n\r\nignored'])).toEqual({ heads: [{ status: 204, contentLength: 0 }], body: '', done: true });
    expect(decode(['HTTP/1.1 304 Not Modified\r\n\r\n'])).toMatchObject({ body: '', done: true });
    expect(decode(['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'HTTP/1.1 200 OK\r\n'])).toMatchObject({ heads: [{ status: 200, contentLength: 0 }], body: '', done: true });
    expect(decode(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}{}{}'])).toMatchObject({ body: '{}', done: true });
  });

  it('accepts bare LF line endings and a reason phrase with any text (RFC 9112 §2.2, §4)', () => {
    expect(decode(['HTTP/1.1 200\nContent-Length: 2\n\n{}'])).toMatchObject({ heads: [{ status: 200, contentLength: 2 }], body: '{}', done: true });
    expect(decode(['HTTP/1.1 503 Service Unavailable: database is locked \r\n\r\n'], { close: true }).heads).toEqual([{ status: 503, contentLength: null }]);
    expect(decode(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\n\n2\n{}\n0\n\n'])).toMatchObject({ body: '{}', done: true });
  });

  it('lets Transfer-Encoding: chunked override a Content-Length (RFC 9112 §6.3)', () => {
    expect(decode(['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'])).toMatchObject({ heads: [{ status: 200, contentLength: null }], body: '{}', done: true });
  });

  it('passes the head to the sink before any body byte, and what the sink throws stops the decoding', () => {
    const refused = new Error('status refused');
    let bodyCalls = 0;
    const decoder = new HttpResponseDecoder({ head: () => { throw refused; }, body: () => bodyCalls++ });
    expect(() => decoder.write(Buffer.from('HTTP/1.1 500 Internal\r\nContent-Length: 2\r\n\r\n{}'))).toThrow(refused);
    expect(bodyCalls).toBe(0);
  });

  it('refuses what is not an HTTP/1.x response, naming the fault', () => {
    const cases: [string, string][] = [
      ['HTTP/2.0 200 OK\r\n\r\n', 'BAD_STATUS_LINE'],
      ['ICY 200 OK\r\n\r\n', 'BAD_STATUS_LINE'],
      ['HTTP/1.1 20 OK\r\n\r\n', 'BAD_STATUS_LINE'],
      ['HTTP/1.1 2000 OK\r\n\r\n', 'BAD_STATUS_LINE'],
      ['{"agents":null}\r\n\r\n', 'BAD_STATUS_LINE'],
      ['\r\n\r\n', 'BAD_STATUS_LINE'],
      ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', 'BAD_STATUS_LINE'],
      ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n folded\r\n\r\n', 'BAD_HEADER'],
      ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', 'BAD_HEADER'],
      ['HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n', 'BAD_HEADER'],
      ['HTTP/1.1 200 OK\r\n: empty name\r\n\r\n', 'BAD_HEADER'],
      ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n', 'BAD_CONTENT_LENGTH'],
      ['HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n', 'BAD_CONTENT_LENGTH'],
      ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', 'BAD_CONTENT_LENGTH'],
      ['HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n', 'BAD_CONTENT_LENGTH'],
      ['HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999\r\n\r\n', 'BAD_CONTENT_LENGTH'],
      ['HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n', 'BAD_CONTENT_LENGTH'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 'UNSUPPORTED_TRANSFER_CODING'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n', 'UNSUPPORTED_TRANSFER_CODING'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 'UNSUPPORTED_TRANSFER_CODING'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'BAD_CHUNK'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n', 'BAD_CHUNK'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;ext\r\n', 'BAD_CHUNK'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\rx', 'BAD_CHUNK'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}}\r\n', 'BAD_CHUNK'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\rx', 'BAD_CHUNK'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20000000000000\r\n', 'BAD_CHUNK'],
      [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;${'e'.repeat(5000)}\r\n`, 'BAD_CHUNK'],
    ];
    for (const [text, code] of cases) expect([text.slice(0, 60), errorCode(() => decode([text]))]).toEqual([text.slice(0, 60), code]);
  });

  it('bounds the head, interim heads and trailers together by maxHeadBytes', () => {
    const limit = { maxHeadBytes: 1024 };
    // One field line without end, sent piece by piece: refused once past the bound, not at the end.
    const decoder = new HttpResponseDecoder({ head: () => {}, body: () => {} }, limit);
    decoder.write(Buffer.from('HTTP/1.1 200 OK\r\nX-Long: '));
    let fed = 0;
    expect(errorCode(() => {
      for (; fed < 100_000; fed += 100) decoder.write(Buffer.alloc(100, 0x61));
    })).toBe('HEAD_TOO_LARGE');
    expect(fed).toBeLessThan(1024);
    expect(errorCode(() => decode(['HTTP/1.1 100 Continue\r\n\r\n'.repeat(50)], limit))).toBe('HEAD_TOO_LARGE');
    expect(errorCode(() => decode([`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${'X-T: 1\r\n'.repeat(200)}\r\n`], limit))).toBe('HEAD_TOO_LARGE');
    // Right at the bound is still fine.
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n';
    const exact = `${head}X: ${'a'.repeat(1024 - head.length - 7)}\r\n\r\n`;
    expect(exact.length).toBe(1024);
    expect(decode([exact, '{}'], limit)).toMatchObject({ body: '{}', done: true });
    expect(errorCode(() => decode([exact.replace('X: ', 'X: a')], limit))).toBe('HEAD_TOO_LARGE');
  });

  it('reports an end of connection anywhere but after a whole response as TRUNCATED', () => {
    const whole = 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd';
    for (let at = 0; at < whole.length; at++) expect(errorCode(() => decode([whole.slice(0, at)], { close: true }))).toBe('TRUNCATED');
    expect(decode([whole], { close: true }).done).toBe(true);
    for (let at = 0; at < CHUNKED.length; at++) expect(errorCode(() => decode([CHUNKED.slice(0, at)], { close: true }))).toBe('TRUNCATED');
    expect(decode([CHUNKED], { close: true }).done).toBe(true);
  });

  it('says whether the connection may carry another request (RFC 9112 §9.3)', () => {
    const reusable = (...pieces: string[]): boolean => {
      const decoder = new HttpResponseDecoder({ head: () => {}, body: () => {} });
      for (const piece of pieces) decoder.write(Buffer.from(piece, 'latin1'));
      return decoder.reusable;
    };
    expect(reusable('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}')).toBe(true);
    expect(reusable(CHUNKED)).toBe(true);
    expect(reusable('HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n')).toBe(true);
    expect(reusable('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{')).toBe(false);
    expect(reusable('HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 2\r\n\r\n{}')).toBe(false);
    expect(reusable('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: upgrade, close\r\nContent-Length: 0\r\n\r\n')).toBe(false);
    expect(reusable('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}')).toBe(false);
    expect(reusable('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}x')).toBe(false);
    expect(reusable('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}', 'x')).toBe(false);
  });

  it('hands out views of the buffer it was given, not copies (the read buffer is reused)', () => {
    const buffer = Buffer.from(CHUNKED, 'latin1');
    const backing = new Set<ArrayBufferLike>();
    new HttpResponseDecoder({ head: () => {}, body: (piece) => backing.add(piece.buffer) }).write(buffer);
    expect([...backing]).toEqual([buffer.buffer]);
  });

  it('throws nothing but HttpResponseError on random and mutated input (2,000 cases)', () => {
    let seed = 0x9e3779b9;
    const random = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const valid = Buffer.from(CHUNKED, 'latin1');
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      let input: Buffer;
      if (i % 2 === 0) {
        input = Buffer.from(valid);
        for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) input[Math.floor(random() * input.length)] = Math.floor(random() * 256);
      } else {
        input = Buffer.from(Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256)));
      }
      const cut = Math.floor(random() * input.length);
      const outcome = errorCode(() => decode([input.subarray(0, cut), input.subarray(cut)], { close: true }));
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // Both sides reached: some mutations leave a readable response, the rest are refused by code.
    expect(outcomes.get('no error')).toBeGreaterThan(0);
    expect(outcomes.get('BAD_STATUS_LINE')).toBeGreaterThan(0);
  });
});

describe('header fields and framing', () => {
  it('groups field values by lower-cased name, in order, trimmed', () => {
    expect([...parseFields(['Content-Type: a/b ', 'X-A:1', 'x-a:  2', ''])]).toEqual([['content-type', ['a/b']], ['x-a', ['1', '2']]]);
  });

  it('reads identical repeated Content-Length values as one (RFC 9112 §6.3 item 5)', () => {
    expect(bodyFraming(200, new Map([['content-length', ['5', '5, 5']]]))).toEqual({ kind: 'length', length: 5 });
    expect(bodyFraming(200, new Map())).toEqual({ kind: 'close' });
  });
});
