// `mesh-dns healthcheck [--config FILE]`: the container HEALTHCHECK. Exits 0 when the running
// server answers GET /ready with 200, i.e. it is serving a zone (from a registry poll or a loaded
// snapshot), 1 otherwise. It loads the same config as the server (file, then environment), so a
// changed `listen.http` moves the check with it instead of leaving a hard-coded URL behind.

import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import { formatListenAddress, type ListenAddress } from '../listeners/address.ts';

/** The URL of /ready for a listen address: a wildcard address is reached through loopback. */
export function readyUrl(listen: ListenAddress): string {
  const host = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
  return `http://${formatListenAddress({ ...listen, host })}/ready`;
}

/** Docker kills a check after HEALTHCHECK --timeout (3 s in our Dockerfile); answer before that. */
const REQUEST_TIMEOUT_MS = 2000;

export async function runHealthcheck(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let config;
  try {
    const args = parseArgs({ args: argv, options: { config: { type: 'string' } } }).values;
    config = loadConfig(args.config, env).config;
  } catch (error) {
    process.stderr.write(`mesh-dns healthcheck: ${error instanceof ConfigError ? 'invalid config: ' : ''}${(error as Error).message}\n`);
    return error instanceof ConfigError ? 78 : 2;
  }
  if (config.listen.http === null) {
    process.stderr.write('mesh-dns healthcheck: listen.http is off, so there is no /ready to ask\n');
    return 1;
  }
  const url = readyUrl(config.listen.http);
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const body = await response.text();
    process.stdout.write(`${url}: ${response.status} ${body.slice(0, 500).trim()}\n`);
    return response.status === 200 ? 0 : 1;
  } catch (error) {
    process.stdout.write(`${url}: ${(error as Error).message}\n`);
    return 1;
  }
}
