// dns2's record codec, packet.js, loaded by file and without node:crypto.
//
// By file: dns2's package index also loads its servers and clients, and with them node:http2,
// node:https, node:tls and readline: +7.4 MiB of RSS against +3.4 MiB for packet.js alone (npm run
// bench:memory, import costs), for code we never run. Its "exports" map offers only the index, so
// packet.js is found next to it (dns2 is pinned to an exact version in package.json).
//
// Without node:crypto: packet.js requires it when loaded, for one function, Packet.uuid (the ID
// of a Packet made without one; mesh-dns writes its own headers and never makes one). node:crypto
// brings ~17 internal modules (webcrypto, keygen, x509, …): +1.0 MiB of idle RSS (bin/mesh-dns,
// 4 starts each: 60.4-60.5 against 59.3-59.5 MiB), issue 9 item 4. So while packet.js loads, a
// module hook answers its require('node:crypto') with a randomInt over src/runtime/random.ts's
// pool (the kernel's CSPRNG as well), and is removed once it has loaded: no other module sees it.
// A later require of dns2 (tests do) gets this same packet.js from require's cache; a packet.js
// loaded before this module (a test importing dns2 first) is used as it is, with node:crypto.
import { createRequire, registerHooks } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type dns2 from 'dns2';
import { random } from '../runtime/random.ts';

/** The module packet.js gets for node:crypto; handed over through a global only while it loads. */
const STAND_IN_URL = 'mesh-dns:dns2-crypto';
const HANDOVER = Symbol.for('mesh-dns.dns2-crypto');

/** node:crypto's randomInt([min,] max), the part of it packet.js calls. */
function randomInt(minOrMax: number, max?: number): number {
  const [low, high] = max === undefined ? [0, minOrMax] : [minOrMax, max];
  return low + random.below(high - low);
}

function loadPacket(): typeof dns2.Packet {
  const require = createRequire(import.meta.url);
  const packetPath = join(dirname(require.resolve('dns2')), 'packet.js');
  const packetUrl = pathToFileURL(packetPath).href;
  const handover = globalThis as unknown as Record<symbol, unknown>;
  handover[HANDOVER] = { randomInt };
  const hooks = registerHooks({
    resolve(specifier, context, next) {
      if (specifier === 'node:crypto' && context.parentURL === packetUrl) return { url: STAND_IN_URL, format: 'commonjs', shortCircuit: true };
      return next(specifier, context);
    },
    load(url, context, next) {
      if (url === STAND_IN_URL) return { format: 'commonjs', source: `module.exports = globalThis[Symbol.for('mesh-dns.dns2-crypto')];`, shortCircuit: true };
      return next(url, context);
    },
  });
  try {
    return require(packetPath) as typeof dns2.Packet;
  } finally {
    hooks.deregister();
    delete handover[HANDOVER];
  }
}

export const Packet = loadPacket();
