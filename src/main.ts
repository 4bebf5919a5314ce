#!/usr/bin/env node
// The mesh-dns command: arguments, logger, signals, exit codes.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError, loadConfig, resolveConfigPath } from './config/load.ts';
import { runResolvConfCommand } from './cli/resolv-conf.ts';
import { startMeshDns } from './server.ts';

const USAGE = `Usage: mesh-dns [--config FILE] [--check]
       mesh-dns resolv-conf [--zone Z] [--server IP]   recommended client resolver settings

DNS for MCP Mesh: answers *.mesh.local from the registry.

  --config FILE   YAML config (default: $MESH_DNS_CONFIG, else the packaged config/mesh-dns.yaml)
  --check         validate the config and exit
  --version       print the version
  --help          this text

Every config key can be set from the environment; see the README.`;

function packageVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

async function main(): Promise<number> {
  if (process.argv[2] === 'resolv-conf') return runResolvConfCommand(process.argv.slice(3), (text) => process.stdout.write(text), (text) => process.stderr.write(text));
  let args;
  try {
    args = parseArgs({ options: { config: { type: 'string' }, check: { type: 'boolean' }, version: { type: 'boolean' }, help: { type: 'boolean' } } }).values;
  } catch (error) {
    process.stderr.write(`mesh-dns: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.help) return void process.stdout.write(`${USAGE}\n`), 0;
  if (args.version) return void process.stdout.write(`${packageVersion()}\n`), 0;

  let loaded;
  try {
    loaded = loadConfig(args.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`mesh-dns: invalid config: ${error.message}\n`);
      return 78; // EX_CONFIG
    }
    throw error;
  }
  if (args.check) return void process.stdout.write(`config OK: ${loaded.config.source}\n`), 0;

  const logger = pino({ level: loaded.config.log.level, base: { service: 'mesh-dns' } });
  // Installed before start-up: the default action of SIGHUP is to exit, and an operator's reload
  // during a slow start must not kill the server. A reload asked for while starting runs after.
  let reloadPending = false;
  let reload = () => {
    reloadPending = true;
  };
  process.on('SIGHUP', () => reload());
  // A DNS server must not die on a bug in one query path: log it, count it, keep serving.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));

  let server;
  try {
    server = await startMeshDns(loaded, logger);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`mesh-dns: invalid config: ${error.message}\n`);
      return 78;
    }
    logger.fatal({ err: error }, `mesh-dns could not start: ${(error as Error).message}`);
    return 1;
  }
  const configPath = resolveConfigPath(args.config, process.env);

  reload = () => {
    try {
      server.reload(loadConfig(args.config));
    } catch (error) {
      logger.error({ err: error, config: configPath }, `reload failed, keeping the running config: ${(error as Error).message}`);
    }
  };
  if (reloadPending) reload();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = (signal: NodeJS.Signals) => {
      if (stopping) {
        // Supervisors repeat SIGTERM (npm forwards it to a child that the process group already
        // signalled): let the graceful stop finish. A second Ctrl-C is an operator insisting.
        if (signal === 'SIGINT') process.exit(130);
        return;
      }
      stopping = true;
      logger.info({ signal }, 'shutting down: no new queries, finishing those in flight');
      resolve();
    };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
  });
  await server.stop();
  logger.info('stopped');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`mesh-dns: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
