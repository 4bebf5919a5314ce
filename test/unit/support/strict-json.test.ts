import { describe, expect, it } from 'vitest';
import { parseStrictJson } from '../../support/strict-json.ts';

describe('parseStrictJson', () => {
  it('parses what JSON.parse parses when every name is unique', () => {
    const text = '{"a":1,"b":{"a":[{"a":"x\\"a\\":"}],"c":null},"d":"\\\\"}';
    expect(parseStrictJson(text)).toEqual(JSON.parse(text));
  });

  it('rejects a name repeated in one object, at any depth, however it is escaped', () => {
    expect(() => parseStrictJson('{"component":"registry","component":"registry-sync"}')).toThrow(/duplicate key "component"/);
    expect(() => parseStrictJson('{"x":[{"a":1, "a" :2}]}')).toThrow(/duplicate key "a"/);
    expect(() => parseStrictJson('{"a":1,"\\u0061":2}')).toThrow(/duplicate key "a"/);
  });

  it('rejects what is not JSON', () => {
    expect(() => parseStrictJson('{"a":1,}')).toThrow(SyntaxError);
    expect(() => parseStrictJson('mesh-dns: internal error')).toThrow(SyntaxError);
  });
});
