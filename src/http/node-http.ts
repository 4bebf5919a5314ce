// node:http and node:https, loaded through require instead of an ES import.
//
// Why: an ES import of a builtin builds its module namespace from every export, and node:http (since
// Node 22) exports WebSocket, CloseEvent and MessageEvent as lazy getters that load Node's bundled
// undici. Measured on Node 24.21 (a bare ESM file, RSS after gc): `import http from 'node:http'`
// 59.5 MiB, `createRequire(import.meta.url)('node:http')` 48.2 MiB: 11 MiB for classes we never
// use. fetch() loads the same undici (+16 MiB on its first request), so the registry client uses
// node:http too. node:https (TLS) is loaded only for an https:// registry URL.

import { createRequire } from 'node:module';
import type * as NodeHttp from 'node:http';
import type * as NodeHttps from 'node:https';
import type { HttpGet, HttpGetOptions } from './plain-http-get.ts';
import type { ResponseSink } from './response-decoder.ts';

const require = createRequire(import.meta.url);

export const http = require('node:http') as typeof NodeHttp;

/** node:https on first use: TLS costs megabytes that an http:// registry never needs. */
export function loadHttps(): typeof NodeHttps {
  return require('node:https') as typeof NodeHttps;
}

/**
 * A GET through node:https behind the interface of plainHttpGet (TLS has no `onread`, so an https://
 * registry keeps node:https's buffer per read). `done` rejects with the raw cause, as there.
 */
export function httpsGet(url: URL, sink: ResponseSink, options: HttpGetOptions): HttpGet {
  let settle!: (error: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    let settled = false;
    settle = (error) => {
      if (settled) return;
      settled = true;
      // Stop the transfer on any rejection: a hostile body must not keep arriving after it was rejected.
      request.destroy();
      if (error === undefined) resolve();
      else reject(error);
    };
  });
  const request = loadHttps().get(url, { headers: { ...options.headers } }, (response) => {
    const declared = Number(response.headers['content-length']);
    try {
      sink.head({ status: response.statusCode ?? 0, contentLength: Number.isSafeInteger(declared) && declared >= 0 ? declared : null });
    } catch (error) {
      return settle(error);
    }
    let sinceYield = 0;
    response.on('data', (chunk: Buffer) => {
      if (request.destroyed) return;
      try {
        sink.body(chunk);
      } catch (error) {
        return settle(error);
      }
      sinceYield += chunk.byteLength;
      if (sinceYield < options.yieldEveryBytes) return;
      sinceYield = 0;
      response.pause();
      setImmediate(() => response.resume());
    });
    response.on('end', () => settle(undefined));
    // A connection closed before the body's end surfaces here (ECONNRESET, "aborted").
    response.on('error', settle);
  });
  request.on('error', settle);
  return { done, destroy: (error) => settle(error) };
}
