import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, resolveConfigPath } from '../../../src/config/load.ts';
import { OPTIONS, type MeshDnsConfig } from '../../../src/config/options.ts';
import { RRType } from '../../../src/wire/constants.ts';
import { configError, configFiles } from '../../support/config-files.ts';

const yamlFile = configFiles('config');

function valueAt(config: MeshDnsConfig, key: string): unknown {
  const [section, name] = key.split('.') as [string, string];
  return (config as unknown as Record<string, Record<string, unknown>>)[section]![name];
}

const emptyFile = yamlFile('# nothing set\n');

describe('loadConfig: defaults', () => {
  it('an empty file gives every option its default', () => {
    const { config, staticRecords } = loadConfig(emptyFile, {});
    for (const option of OPTIONS) {
      expect({ key: option.key, value: valueAt(config, option.key) }).toEqual({ key: option.key, value: option.parse(option.default) });
    }
    expect(config.source).toBe(emptyFile);
    expect(staticRecords).toEqual([]);
  });

  it('the defaults are the documented ones', () => {
    const { config } = loadConfig(emptyFile, {});
    expect(config).toMatchObject({
      listen: {
        dns: [{ host: '127.0.0.1', port: 1053, family: 'ipv4' }, { host: '::1', port: 1053, family: 'ipv6' }],
        bindHost: '',
        http: { host: '127.0.0.1', port: 9153, family: 'ipv4' },
      },
      zone: { name: 'mesh.local', ttl: 5, negativeTtl: 5, reverseZones: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'], records: [] },
      registry: { url: '', pollInterval: 2000, timeout: 5000, eventsHintInterval: 500, snapshotPath: '.mesh-dns/registry-snapshot.json', snapshotInterval: 30000, resolveHostnames: true, maxBodyBytes: 67108864, maxAgents: 50000 },
      limits: {
        udpPayloadSize: 1232, udpReceiveBuffer: 4194304, tcpMaxConnections: 256, tcpMaxConnectionsPerSource: 16, tcpMaxInFlight: 32,
        tcpIdleTimeout: 10000, tcpMessageTimeout: 3000,
      },
      chaos: { version: '' },
      log: { level: 'info', queries: false },
      shutdown: { lameDuck: 2000, grace: 5000 },
    });
  });

  it('a file with only empty sections is the defaults too', () => {
    expect(loadConfig(yamlFile('listen:\nzone:\n'), {}).config.zone.name).toBe('mesh.local');
  });

  it('the path comes from the CLI, else MESH_DNS_CONFIG, else the packaged file', () => {
    expect(resolveConfigPath('/a.yaml', { MESH_DNS_CONFIG: '/b.yaml' })).toBe('/a.yaml');
    expect(resolveConfigPath(undefined, { MESH_DNS_CONFIG: '/b.yaml' })).toBe('/b.yaml');
    expect(resolveConfigPath(undefined, {})).toBe(DEFAULT_CONFIG_PATH);
    expect(loadConfig(undefined, { MESH_DNS_CONFIG: emptyFile }).config.source).toBe(emptyFile);
  });

  it('the packaged config loads, with its demo records', () => {
    const { config, staticRecords } = loadConfig(DEFAULT_CONFIG_PATH, {});
    expect(config.zone.name).toBe('mesh.local');
    expect(staticRecords.some((record) => record.name === 'www.mesh.local' && record.record.type === RRType.CNAME)).toBe(true);
  });
});

describe('loadConfig: file values', () => {
  it('reads every section, durations and lists', () => {
    const path = yamlFile([
      'listen:',
      '  dns: ["0.0.0.0:53", "[::]:53"]',
      '  http: "off"',
      'zone:',
      '  name: Mesh.Example.',
      '  ttl: 30',
      '  negativeTtl: 1m',
      '  reverseZones: [10.0.0.0/8]',
      '  records:',
      '    - { name: api, type: a, value: 10.1.2.3, ttl: 2m }',
      '    - { name: t, type: TXT, value: [one, two] }',
      'registry:',
      '  url: http://registry:8000/',
      '  pollInterval: 1.5s',
      'limits:',
      '  udpPayloadSize: 4096',
      'log:',
      '  queries: true',
      '',
    ].join('\n'));
    const { config, staticRecords } = loadConfig(path, {});
    expect(config.listen.dns).toEqual([{ host: '0.0.0.0', port: 53, family: 'ipv4' }, { host: '::', port: 53, family: 'ipv6' }]);
    expect(config.listen.http).toBeNull();
    expect(config.zone).toMatchObject({ name: 'mesh.example', ttl: 30, negativeTtl: 60, reverseZones: ['10.0.0.0/8'] });
    expect(config.zone.records).toEqual([{ name: 'api', type: 'A', value: '10.1.2.3', ttl: 120 }, { name: 't', type: 'TXT', value: ['one', 'two'] }]);
    expect(config.registry).toMatchObject({ url: 'http://registry:8000', pollInterval: 1500 });
    expect(config.limits.udpPayloadSize).toBe(4096);
    expect(config.log.queries).toBe(true);
    expect(staticRecords).toEqual([
      { name: 'api.mesh.example', record: { type: RRType.A, ttl: 120, address: '10.1.2.3' } },
      { name: 't.mesh.example', record: { type: RRType.TXT, ttl: 30, strings: ['one', 'two'] } },
    ]);
  });
});

describe('loadConfig: environment variables', () => {
  // One value per option, different from both the default and the file below.
  const fileText = [
    'listen: { dns: ["127.0.0.2:2053"], bindHost: "", http: "127.0.0.2:9000" }',
    'zone: { name: file.local, ttl: 11s, negativeTtl: 12s, reverseZones: ["192.168.0.0/16"], records: [] }',
    'registry: { url: "http://file:1", pollInterval: 3s, timeout: 4s, eventsHintInterval: 1s, snapshotPath: /file, snapshotInterval: 1m, resolveHostnames: true }',
    'limits: { udpPayloadSize: 1300, udpReceiveBuffer: 100000, tcpMaxConnections: 20, tcpMaxConnectionsPerSource: 5, tcpMaxInFlight: 8, tcpIdleTimeout: 20s, tcpMessageTimeout: 2s }',
    'chaos: { version: file }',
    'log: { level: warn, queries: false }',
    'shutdown: { lameDuck: 3s, grace: 2s }',
    '',
  ].join('\n');
  const file = yamlFile(fileText);
  const overrides: Record<string, [string, unknown]> = {
    MESH_DNS_LISTEN: ['0.0.0.0:53, [::]:5353', [{ host: '0.0.0.0', port: 53, family: 'ipv4' }, { host: '::', port: 5353, family: 'ipv6' }]],
    MCP_MESH_BIND_HOST: ['10.1.2.3', '10.1.2.3'],
    MESH_DNS_HTTP_LISTEN: ['off', null],
    MESH_DNS_ZONE: ['Agents.Example.', 'agents.example'],
    MCP_MESH_DNS_CACHE_TTL: ['60s', 60],
    MESH_DNS_NEGATIVE_TTL: ['2m', 120],
    MESH_DNS_REVERSE_ZONES: ['10.0.0.0/8, fd00::/8', ['10.0.0.0/8', 'fd00::/8']],
    MESH_DNS_RECORDS: ['api A 10.1.2.3', [{ name: 'api', type: 'A', value: '10.1.2.3' }]],
    MCP_MESH_REGISTRY_URL: ['http://127.0.0.1:8000/', 'http://127.0.0.1:8000'],
    MESH_DNS_REGISTRY_POLL_INTERVAL: ['250ms', 250],
    MCP_MESH_NETWORK_TIMEOUT: ['3', 3000],
    MESH_DNS_REGISTRY_EVENTS_HINT_INTERVAL: ['0', 0],
    MESH_DNS_SNAPSHOT_PATH: ['', ''],
    MESH_DNS_SNAPSHOT_INTERVAL: ['0', 0],
    MESH_DNS_RESOLVE_HOSTNAMES: ['false', false],
    MESH_DNS_REGISTRY_MAX_BODY_BYTES: ['1048576', 1048576],
    MESH_DNS_REGISTRY_MAX_AGENTS: ['100', 100],
    MESH_DNS_PROBE_ENDPOINTS: ['true', true],
    MESH_DNS_PROBE_TIMEOUT: ['250ms', 250],
    MESH_DNS_RECURSION_NETWORKS: ['10.0.0.0/8', ['10.0.0.0/8']],
    MESH_DNS_MESH_NETWORKS: ['192.168.0.0/16, fd00::/8', ['192.168.0.0/16', 'fd00::/8']],
    MESH_DNS_VIEWS: ['[{"name":"a","networks":["10.0.0.0/8"],"namespaces":["x"],"home":"x"}]', [{ name: 'a', networks: ['10.0.0.0/8'], namespaces: ['x'], home: 'x' }]],
    MESH_DNS_VIEWS_UNMATCHED: ['nxdomain', 'nxdomain'],
    MESH_DNS_DOMAIN_NEEDED: ['false', false],
    MESH_DNS_RATE_LIMIT: ['off', false],
    MESH_DNS_RATE_LIMIT_QPS: ['50', 50],
    MESH_DNS_RATE_LIMIT_BURST: ['100', 100],
    MESH_DNS_RATE_LIMIT_IPV4_PREFIX: ['24', 24],
    MESH_DNS_RATE_LIMIT_IPV6_PREFIX: ['64', 64],
    MESH_DNS_RATE_LIMIT_SLIP: ['0', 0],
    MESH_DNS_RATE_LIMIT_ALLOW: ['10.1.0.0/16', ['10.1.0.0/16']],
    MESH_DNS_RATE_LIMIT_MAX_CLIENTS: ['1024', 1024],
    MESH_DNS_BOGUS_PRIV: ['no', false],
    MESH_DNS_RUNTIME_RESOLVER: ['10.89.0.1', [{ host: '10.89.0.1', port: 53, family: 'ipv4' }]],
    MESH_DNS_AUTOPATH: ['yes', true],
    MESH_DNS_UPSTREAMS: ['9.9.9.9, [2620:fe::fe]:5353', [{ host: '9.9.9.9', port: 53, family: 'ipv4' }, { host: '2620:fe::fe', port: 5353, family: 'ipv6' }]],
    MESH_DNS_RESOLV_CONF: ['', ''],
    MESH_DNS_DOMAIN_UPSTREAMS: ['/corp.example/10.0.0.2', [{ domain: 'corp.example', servers: [{ host: '10.0.0.2', port: 53, family: 'ipv4' }] }]],
    MESH_DNS_UPSTREAM_POLICY: ['sequential', 'sequential'],
    MESH_DNS_UPSTREAM_TIMEOUT: ['750ms', 750],
    MESH_DNS_UPSTREAM_DEADLINE: ['8s', 8000],
    MESH_DNS_UPSTREAM_TRIES: ['5', 5],
    MESH_DNS_CLIENT_BUDGET: ['10s', 10000],
    MESH_DNS_UPSTREAM_FORCE_TCP: ['true', true],
    MESH_DNS_UPSTREAM_MAX_OUTSTANDING: ['64', 64],
    MESH_DNS_UPSTREAM_MAX_FAILS: ['7', 7],
    MESH_DNS_UPSTREAM_HEALTH_CHECK_INTERVAL: ['2s', 2000],
    MESH_DNS_LOOP_DETECT: ['off', false],
    MESH_DNS_CACHE_SIZE: ['0', 0],
    MESH_DNS_CACHE_MAX_BYTES: ['1048576', 1048576],
    MESH_DNS_CACHE_MIN_TTL: ['5', 5],
    MESH_DNS_CACHE_MAX_TTL: ['10m', 600],
    MESH_DNS_CACHE_NEGATIVE_MAX_TTL: ['1m', 60],
    MESH_DNS_CACHE_SERVFAIL_TTL: ['1s', 1],
    MESH_DNS_CACHE_PREFETCH: ['0', false],
    MESH_DNS_SERVE_STALE: ['false', false],
    MESH_DNS_STALE_MAX_AGE: ['1h', 3600000],
    MESH_DNS_CACHE_FAILURE_RECHECK: ['10s', 10],
    MESH_DNS_STALE_ANSWER_TIMEOUT: ['500ms', 500],
    MESH_DNS_UDP_PAYLOAD_SIZE: ['1400', 1400],
    MESH_DNS_UDP_RECEIVE_BUFFER: ['65536', 65536],
    MESH_DNS_TCP_MAX_CONNECTIONS: ['10', 10],
    MESH_DNS_TCP_MAX_CONNECTIONS_PER_SOURCE: ['3', 3],
    MESH_DNS_TCP_MAX_IN_FLIGHT: ['4', 4],
    MESH_DNS_TCP_IDLE_TIMEOUT: ['30s', 30000],
    MESH_DNS_TCP_MESSAGE_TIMEOUT: ['750ms', 750],
    MESH_DNS_VERSION_BIND: ['mesh-dns 1.2', 'mesh-dns 1.2'],
    MESH_DNS_LOG_LEVEL: ['debug', 'debug'],
    MESH_DNS_LOG_QUERIES: ['yes', true],
    MESH_DNS_SHUTDOWN_LAME_DUCK: ['0', 0],
    MESH_DNS_SHUTDOWN_GRACE: ['1m', 60000],
    MESH_DNS_READY_DETAIL: ['always', 'always'],
  };

  it('the table covers every option (a new option needs a row here)', () => {
    expect(Object.keys(overrides).sort()).toEqual(OPTIONS.map((option) => option.env).sort());
  });

  it.each(OPTIONS.map((option) => [option.env, option.key] as const))('%s overrides %s over the file', (env, key) => {
    const [raw, expected] = overrides[env]!;
    const fromFile = valueAt(loadConfig(file, {}).config, key);
    expect(fromFile).not.toEqual(expected);
    expect(valueAt(loadConfig(file, { [env]: raw }).config, key)).toEqual(expected);
  });

  it.each([['60s', 60], ['5m', 300], ['90', 90], ['0', 0], ['1h', 3600]])('MCP_MESH_DNS_CACHE_TTL=%s is %i seconds', (raw, seconds) => {
    expect(loadConfig(emptyFile, { MCP_MESH_DNS_CACHE_TTL: raw }).config.zone.ttl).toBe(seconds);
  });

  it('the cache TTL is the TTL of static records without their own', () => {
    const { staticRecords } = loadConfig(emptyFile, { MCP_MESH_DNS_CACHE_TTL: '5m', MESH_DNS_RECORDS: 'api A 10.1.2.3' });
    expect(staticRecords[0]!.record.ttl).toBe(300);
  });

  describe('MCP_MESH_BIND_HOST', () => {
    it('replaces the host of every listen address, keeping each port once', () => {
      const path = yamlFile('listen:\n  dns: ["127.0.0.1:1053", "[::1]:1053", "127.0.0.1:5353"]\n');
      expect(loadConfig(path, { MCP_MESH_BIND_HOST: '0.0.0.0' }).config.listen.dns).toEqual([
        { host: '0.0.0.0', port: 1053, family: 'ipv4' },
        { host: '0.0.0.0', port: 5353, family: 'ipv4' },
      ]);
      expect(loadConfig(path, { MCP_MESH_BIND_HOST: '::' }).config.listen.dns).toEqual([
        { host: '::', port: 1053, family: 'ipv6' },
        { host: '::', port: 5353, family: 'ipv6' },
      ]);
    });

    it('applies from the file as well', () => {
      const path = yamlFile('listen:\n  dns: ["127.0.0.1:53"]\n  bindHost: 10.0.0.5\n');
      expect(loadConfig(path, {}).config.listen.dns).toEqual([{ host: '10.0.0.5', port: 53, family: 'ipv4' }]);
    });

    it('is ignored when MESH_DNS_LISTEN is set', () => {
      const { config } = loadConfig(emptyFile, { MCP_MESH_BIND_HOST: '0.0.0.0', MESH_DNS_LISTEN: '127.0.0.1:53' });
      expect(config.listen.dns).toEqual([{ host: '127.0.0.1', port: 53, family: 'ipv4' }]);
      expect(config.listen.bindHost).toBe('0.0.0.0');
    });

    it('must be an IP address', () => {
      const error = configError(emptyFile, { MCP_MESH_BIND_HOST: 'localhost' });
      expect(error.message).toBe('environment variable MCP_MESH_BIND_HOST: listen.bindHost: "localhost" is not an IP address');
    });
  });

  describe('MESH_DNS_RECORDS', () => {
    it('reads comma-separated "name type value" items, values with spaces included', () => {
      const { config, staticRecords } = loadConfig(emptyFile, {
        MESH_DNS_RECORDS: 'api A 10.1.2.3, _mcp._tcp.api SRV 1 2 8080 api , api txt hello world,www CNAME api',
      });
      expect(config.zone.records).toEqual([
        { name: 'api', type: 'A', value: '10.1.2.3' },
        { name: '_mcp._tcp.api', type: 'SRV', value: '1 2 8080 api' },
        { name: 'api', type: 'TXT', value: 'hello world' },
        { name: 'www', type: 'CNAME', value: 'api' },
      ]);
      expect(staticRecords.map((record) => [record.name, record.record])).toEqual([
        ['api.mesh.local', { type: RRType.A, ttl: 5, address: '10.1.2.3' }],
        ['_mcp._tcp.api.mesh.local', { type: RRType.SRV, ttl: 5, priority: 1, weight: 2, port: 8080, target: 'api.mesh.local' }],
        ['api.mesh.local', { type: RRType.TXT, ttl: 5, strings: ['hello world'] }],
        ['www.mesh.local', { type: RRType.CNAME, ttl: 5, target: 'api.mesh.local' }],
      ]);
    });

    it('replaces the file\'s records', () => {
      const path = yamlFile('zone:\n  records:\n    - { name: old, type: A, value: 10.0.0.1 }\n');
      expect(loadConfig(path, { MESH_DNS_RECORDS: 'new A 10.0.0.2' }).staticRecords.map((record) => record.name)).toEqual(['new.mesh.local']);
    });

    it('names the variable, the key and the record when one is wrong', () => {
      const badType = configError(emptyFile, { MESH_DNS_RECORDS: 'api A 10.1.2.3, api MX 10 mail' });
      expect(badType.message).toBe('environment variable MESH_DNS_RECORDS: zone.records: item 2: record api: type "MX" is not one of A, AAAA, CNAME, SRV, TXT');
      const badValue = configError(emptyFile, { MESH_DNS_RECORDS: 'api A not-an-address' });
      expect(badValue.message).toBe('environment variable MESH_DNS_RECORDS: zone.records: record 1 (api A): "not-an-address" is not an IPv4 address');
    });
  });
});

describe('loadConfig: errors name the source, the key and the reason', () => {
  it.each([
    ['zone:\n  ttl: banana\n', 'zone.ttl', '"banana" is not a duration (use 250ms, 30s, 5m, 1h, or a number of seconds)'],
    ['zone:\n  ttl: 1.5s\n', 'zone.ttl', '"1.5s" is not a whole number of seconds (DNS TTLs are in seconds)'],
    ['zone:\n  ttl: 3000000000\n', 'zone.ttl', '3000000000s exceeds the largest TTL (2147483647s)'],
    ['zone:\n  name: "bad name"\n', 'zone.name', '"bad name" is not a valid domain name'],
    ['zone:\n  reverseZones: [10.0.0.0/33]\n', 'zone.reverseZones', 'item 1: "10.0.0.0/33" is not a CIDR such as 10.0.0.0/8 or fd00::/8'],
    ['listen:\n  dns: ["localhost:53"]\n', 'listen.dns', 'item 1: "localhost:53" is not host:port or [ipv6]:port with an IP literal host'],
    ['limits:\n  udpPayloadSize: 100\n', 'limits.udpPayloadSize', '100 is not a whole number from 512 to 4096'],
    ['log:\n  level: loud\n', 'log.level', '"loud" is not one of fatal, error, warn, info, debug, trace, silent'],
    ['log:\n  queries: maybe\n', 'log.queries', '"maybe" is not true or false'],
    ['registry:\n  url: ftp://x\n', 'registry.url', '"ftp://x" must be http:// or https://'],
    ['registry:\n  pollInterval: 50ms\n', 'registry.pollInterval', 'must be at least 100ms'],
    ['registry:\n  timeout: 10ms\n', 'registry.timeout', 'must be at least 50ms'],
    ['limits:\n  tcpIdleTimeout: 0\n', 'limits.tcpIdleTimeout', '0 is too short (at least 50ms)'],
    ['limits:\n  tcpMessageTimeout: 10ms\n', 'limits.tcpMessageTimeout', '"10ms" is too short (at least 50ms)'],
    ['zone:\n  records:\n    - { name: www, type: CNAME, value: a }\n    - { name: www, type: A, value: 10.0.0.1 }\n', 'zone.records',
      'record 2 (www A): www.mesh.local has a CNAME and other records; a CNAME must stand alone'],
    ['zone:\n  records:\n    - { name: s, type: SRV, value: "1 1 http s" }\n', 'zone.records', 'record 1 (s SRV): "1 1 http s" is not "priority weight port target"'],
    ['zone:\n  records:\n    - { name: s, type: A, value: 10.0.0.1, color: red }\n', 'zone.records', 'item 1: unknown field color (a record has name, type, value, ttl)'],
  ])('%j → %s', (text, key, reason) => {
    const path = yamlFile(text);
    const error = configError(path);
    expect({ source: error.source, key: error.key, reason: error.reason }).toEqual({ source: path, key, reason });
    expect(error.message).toBe(`${path}: ${key}: ${reason}`);
  });

  it('names the environment variable when the bad value came from it', () => {
    const error = configError(emptyFile, { MESH_DNS_UDP_PAYLOAD_SIZE: '100k' });
    expect(error.message).toBe('environment variable MESH_DNS_UDP_PAYLOAD_SIZE: limits.udpPayloadSize: "100k" is not a whole number from 512 to 4096');
    expect(configError(emptyFile, { MCP_MESH_DNS_CACHE_TTL: '5 minutes' }).message)
      .toBe('environment variable MCP_MESH_DNS_CACHE_TTL: zone.ttl: "5 minutes" is not a duration (use 250ms, 30s, 5m, 1h, or a number of seconds)');
  });

  it('cross-field checks name the environment variable a value came from', () => {
    const error = configError(emptyFile, { MESH_DNS_REGISTRY_POLL_INTERVAL: '50ms' });
    expect(error.message).toBe('environment variable MESH_DNS_REGISTRY_POLL_INTERVAL: registry.pollInterval: must be at least 100ms');
  });

  it('rejects a cache minimum above its maximum and a try timeout above the deadline', () => {
    expect(configError(yamlFile('cache:\n  minTtl: 2h\n')).message).toMatch(/: cache\.minTtl: 7200s is above cache\.maxTtl \(3600s\)$/);
    expect(configError(emptyFile, { MESH_DNS_UPSTREAM_TIMEOUT: '10s' }).message)
      .toBe('environment variable MESH_DNS_UPSTREAM_TIMEOUT: upstreams.tryTimeout: is longer than upstreams.deadline (1600ms)');
  });

  it('an unknown section lists the known ones, and names the one a typo was meant to be', () => {
    const path = yamlFile('lisen:\n  dns: ["127.0.0.1:53"]\n');
    const error = configError(path);
    const sections = [...new Set(OPTIONS.map((option) => option.key.split('.')[0]))];
    expect(sections).toEqual(expect.arrayContaining(['listen', 'zone', 'registry', 'limits', 'chaos', 'log', 'shutdown']));
    expect(error.message).toBe(`${path}: lisen: unknown section (did you mean listen? known: ${sections.join(', ')})`);
    const far = yamlFile('plugins:\n  x: 1\n');
    expect(configError(far).message).toBe(`${far}: plugins: unknown section (known: ${sections.join(', ')})`);
  });

  it('an unknown key lists the keys of its section, and names the one a typo was meant to be', () => {
    const path = yamlFile('zone:\n  tll: 5s\n');
    expect(configError(path).message).toBe(`${path}: zone.tll: unknown key (did you mean zone.ttl? known under zone: name, ttl, negativeTtl, reverseZones, records)`);
    const far = yamlFile('zone:\n  colour: blue\n');
    expect(configError(far).message).toBe(`${far}: zone.colour: unknown key (known under zone: name, ttl, negativeTtl, reverseZones, records)`);
  });

  describe('an unknown MESH_DNS_* variable is an error, as an unknown key is', () => {
    it.each([
      // The registry URL is MCP Mesh's own variable, shared with the agents.
      ['MESH_DNS_REGISTRY_URL', 'did you mean MCP_MESH_REGISTRY_URL, which sets registry.url?'],
      ['MESH_DNS_CACHE_TLL', 'did you mean MCP_MESH_DNS_CACHE_TTL, which sets zone.ttl?'],
      ['MESH_DNS_UPSTREAM', 'did you mean MESH_DNS_UPSTREAMS, which sets upstreams.servers?'],
      ['MESH_DNS_CONIFG', 'did you mean MESH_DNS_CONFIG?'],
      ['MESH_DNS_TURBO', "the README's config table lists every variable"],
    ])('%s: %s', (name, hint) => {
      expect(configError(emptyFile, { [name]: 'x' }).message).toBe(`environment: ${name}: unknown variable (${hint})`);
    });

    it('other prefixes are not ours to judge: MCP_MESH_* is shared with the agents and the registry', () => {
      expect(() => loadConfig(emptyFile, { MCP_MESH_AGENT_NAME: 'weather', MCP_MESH_HTTP_PORT: '8080', MESH_DNS_CONFIG: emptyFile, PATH: '/bin' })).not.toThrow();
    });
  });

  it('a section that is not a mapping', () => {
    const path = yamlFile('zone: mesh.local\n');
    expect(configError(path).message).toBe(`${path}: zone: must be a mapping of keys`);
  });

  it('a file that is not a mapping', () => {
    const path = yamlFile('- listen\n- zone\n');
    expect(configError(path).message).toBe(`${path}: (root): the file must hold a mapping of sections (listen, zone, registry, …)`);
  });

  it('a YAML syntax error gives its line', () => {
    const duplicate = yamlFile('zone:\n  name: mesh.local\n  ttl: 5s\n  ttl: 6s\n');
    const error = configError(duplicate);
    expect(error.key).toBe('(syntax)');
    expect(error.message).toMatch(new RegExp(`^${duplicate.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\(syntax\\): not valid YAML at line 4: `));
    const tab = yamlFile('log:\n  level: info\nzone:\n\tname: x\n');
    expect(configError(tab).message).toContain('not valid YAML at line 4');
  });

  it('a missing file', () => {
    const path = `${yamlFile('')}.missing`;
    expect(configError(path).message).toBe(`${path}: (file): cannot read: no such file (ENOENT)`);
  });
});
