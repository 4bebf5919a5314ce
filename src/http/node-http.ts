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

const require = createRequire(import.meta.url);

export const http = require('node:http') as typeof NodeHttp;

/** node:https on first use: TLS costs megabytes that an http:// registry never needs. */
export function loadHttps(): typeof NodeHttps {
  return require('node:https') as typeof NodeHttps;
}
