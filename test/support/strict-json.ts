// Strict JSON for log consumers: JSON.parse accepts `{"a":1,"a":2}` (last one wins), many log
// pipelines (and RFC 8259 §4's "names SHOULD be unique") do not. This parses a line and throws on
// a name repeated within one object, naming it.

export function parseStrictJson(text: string): unknown {
  const value: unknown = JSON.parse(text); // the syntax: RFC 8259
  // Syntax is known good from here: a string is a member name iff the next non-space is ':'.
  const objects: Array<Set<string> | null> = [];
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (char === '{') objects.push(new Set());
    else if (char === '[') objects.push(null);
    else if (char === '}' || char === ']') objects.pop();
    else if (char === '"') {
      let end = index + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      let next = end + 1;
      while (text[next] === ' ' || text[next] === '\t' || text[next] === '\n' || text[next] === '\r') next++;
      if (text[next] === ':') {
        const name = JSON.parse(text.slice(index, end + 1)) as string;
        const names = objects.at(-1)!;
        if (names.has(name)) throw new SyntaxError(`duplicate key "${name}" in ${text.length > 300 ? `${text.slice(0, 300)}…` : text}`);
        names.add(name);
      }
      index = end;
    }
  }
  return value;
}
