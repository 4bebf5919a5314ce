// The container tests take podman's settings from `container-lab env`, shell-quoted exports.

import { describe, expect, it } from 'vitest';
import { parseExports } from '../../container/lab.ts';

describe('parseExports', () => {
  it('reads every variable of an export line, undoing printf %q quoting', () => {
    expect(parseExports('export CONTAINERS_CONF=/var/tmp/container-lab/containers.conf CONTAINERS_STORAGE_CONF=/var/tmp/a\\ b/storage.conf DOCKER_HOST=unix:///var/tmp/container-lab/podman.sock\n')).toEqual({
      CONTAINERS_CONF: '/var/tmp/container-lab/containers.conf',
      CONTAINERS_STORAGE_CONF: '/var/tmp/a b/storage.conf',
      DOCKER_HOST: 'unix:///var/tmp/container-lab/podman.sock',
    });
  });
});
