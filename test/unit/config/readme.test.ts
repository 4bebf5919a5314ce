// The README's config table must tell the truth: every option, with its environment variable and
// default, as options.ts defines them (the table is generated from OPTIONS; this catches drift).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPTIONS } from '../../../src/config/options.ts';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

function shown(value: unknown): string {
  if (Array.isArray(value)) return value.length > 0 ? value.join(', ') : '(empty)';
  return value === '' ? '(empty)' : String(value);
}

describe('README config table', () => {
  it.each(OPTIONS.map((option) => [option.key, option] as const))('documents %s with its variable and default', (_key, option) => {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${option.key}\` |`));
    expect(row, `no README row for ${option.key}`).toBeDefined();
    expect(row).toContain(`\`${option.env}\``);
    expect(row).toContain(` ${shown(option.default)} `);
  });

  it('starts with the two commands', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock).toMatch(/^npm ci && npm start\b/m);
    expect(firstBlock).toMatch(/^npm ci && npm run test:all\b/m);
  });
});
