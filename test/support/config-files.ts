// Config files for loadConfig tests: written to a temp directory removed after the file's tests,
// and the ConfigError a bad one must produce.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

/** A writer of numbered YAML files in a fresh temp directory (removed in afterAll). */
export function configFiles(prefix: string): (text: string) => string {
  const directory = mkdtempSync(join(tmpdir(), `mesh-dns-${prefix}-`));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));
  let files = 0;
  return (text) => {
    const path = join(directory, `${prefix}-${++files}.yaml`);
    writeFileSync(path, text);
    return path;
  };
}

/** The ConfigError loadConfig throws for `path` (fails the test if it accepts the config). */
export function configError(path: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig(path, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('loadConfig accepted the config');
}
