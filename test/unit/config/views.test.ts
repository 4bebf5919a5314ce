// views.list / views.unmatched: a bad view fails at start naming the file (or variable), the key
// and the reason, including which view and field.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { viewNamespaces } from '../../../src/config/views.ts';
import { configError as failure, configFiles } from '../../support/config-files.ts';

const yamlFile = configFiles('views');

const THREE_TIER = new URL('../../../config/examples/views-three-tier.yaml', import.meta.url).pathname;

describe('views config', () => {
  it('loads the three-tier example: three views, four namespaces polled, refused when unmatched', () => {
    const { config } = loadConfig(THREE_TIER, {});
    expect(config.views.list).toEqual([
      { name: 'dmz', networks: ['10.10.1.0/24'], namespaces: ['dmz', 'app'], home: 'dmz' },
      { name: 'app', networks: ['10.10.2.0/24'], namespaces: ['app', 'data'], home: 'app' },
      { name: 'data', networks: ['10.10.3.0/24'], namespaces: ['data'], home: 'data' },
    ]);
    expect(config.views.unmatched).toBe('refused');
    expect(viewNamespaces(config.views.list)).toEqual(['app', 'data', 'dmz']);
  });

  it('defaults to no views (behaviour as without the feature)', () => {
    const { config } = loadConfig(yamlFile(''), {});
    expect(config.views).toEqual({ list: [], unmatched: 'refused' });
  });

  it('takes the list as JSON from MESH_DNS_VIEWS, and names the variable when it is bad', () => {
    const path = yamlFile('');
    const { config } = loadConfig(path, { MESH_DNS_VIEWS: '[{"name":"a","networks":["10.0.0.0/8"],"namespaces":["x"],"home":"x"}]' });
    expect(config.views.list).toEqual([{ name: 'a', networks: ['10.0.0.0/8'], namespaces: ['x'], home: 'x' }]);
    const error = failure(path, { MESH_DNS_VIEWS: '[{"name":"a",' });
    expect(error.source).toBe('environment variable MESH_DNS_VIEWS');
    expect(error.key).toBe('views.list');
    expect(error.reason).toMatch(/not a JSON list of views/);
  });

  const cases: [string, string, RegExp][] = [
    ['a CIDR that is not one', '{ name: dmz, networks: [10.10.1.0/33], namespaces: [dmz], home: dmz }', /view 1 \("dmz"\): networks\[1\]: "10\.10\.1\.0\/33" is not a CIDR/],
    ['no network', '{ name: dmz, networks: [], namespaces: [dmz], home: dmz }', /view 1 \("dmz"\): networks: at least one CIDR/],
    ['a home outside its namespaces', '{ name: dmz, networks: [10.10.1.0/24], namespaces: [app], home: dmz }', /view 1 \("dmz"\): home: "dmz" must be one of its namespaces \(app\)/],
    ['a namespace the registry would reject', '{ name: dmz, networks: [10.10.1.0/24], namespaces: [Prod_NS], home: Prod_NS }', /namespaces\[1\]: "Prod_NS" is not a registry namespace/],
    ['an unknown field', '{ name: dmz, network: [10.10.1.0/24], namespaces: [dmz], home: dmz }', /view 1 \("dmz"\): network: unknown field/],
    ['a view that is not a mapping', 'dmz', /view 1: must be a mapping/],
  ];
  it.each(cases)('refuses %s, naming file, key, view and field', (_what, item, reason) => {
    const path = yamlFile(`views:\n  list:\n    - ${item}\n`);
    const error = failure(path);
    expect(error.source).toBe(path);
    expect(error.key).toBe('views.list');
    expect(error.reason).toMatch(reason);
  });

  it('refuses one network in two views (no most specific match) and a view name used twice', () => {
    const twice = yamlFile('views:\n  list:\n    - { name: a, networks: [10.1.0.0/16], namespaces: [x], home: x }\n    - { name: b, networks: [10.1.0.0/16], namespaces: [y], home: y }\n');
    expect(failure(twice).reason).toMatch(/view "b": networks: 10\.1\.0\.0\/16 is already in view "a"/);
    const sameName = yamlFile('views:\n  list:\n    - { name: a, networks: [10.1.0.0/16], namespaces: [x], home: x }\n    - { name: a, networks: [10.2.0.0/16], namespaces: [y], home: y }\n');
    expect(failure(sameName).reason).toMatch(/view "a": the name is used twice/);
  });

  it('bounds the namespaces polled per poll (64) and the views (64)', () => {
    const many = Array.from({ length: 65 }, (_, i) => `    - { name: v${i}, networks: [10.${i}.0.0/16], namespaces: [ns${i}], home: ns${i} }`).join('\n');
    expect(failure(yamlFile(`views:\n  list:\n${many}\n`)).reason).toMatch(/65 views: at most 64/);
    const namespaces = Array.from({ length: 65 }, (_, i) => `ns${i}`).join(', ');
    expect(failure(yamlFile(`views:\n  list:\n    - { name: a, networks: [10.0.0.0/8], namespaces: [${namespaces}], home: ns0 }\n`)).reason).toMatch(/65 distinct namespaces: at most 64/);
  });

  it('refuses an unknown views.unmatched policy', () => {
    const error = failure(yamlFile('views:\n  unmatched: drop\n'));
    expect(error.key).toBe('views.unmatched');
    expect(error.reason).toMatch(/not one of refused, nxdomain/);
  });
});
