// Entry of the short-lived process that loads the config for load-in-child.ts: argv[2] is the
// --config path ('' for none), the environment is the server's. Prints one JSON line: the loaded
// config, or the ConfigError's parts. Anything else (a bug) is a stack on stderr and exit 1.

import { ConfigError, loadConfig } from './load.ts';

try {
  const { config, staticRecords, sources } = loadConfig(process.argv[2] || undefined);
  process.stdout.write(`${JSON.stringify({ loaded: { config, staticRecords, sources } })}\n`);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stdout.write(`${JSON.stringify({ configError: { source: error.source, key: error.key, reason: error.reason } })}\n`);
}
