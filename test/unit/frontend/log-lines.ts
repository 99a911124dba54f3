// JSON log lines as the tests read them: captured from a pino destination, and their keys in order.
import { Writable } from 'node:stream';

/** The top-level keys of a JSON line, in order, repeats included (JSON.parse keeps only the last). */
export function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let start = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (start >= 0) {
      if (c === '\\') i++;
      else if (c === '"') {
        if (depth === 1 && line[i + 1] === ':') keys.push(line.slice(start, i));
        start = -1;
      }
    } else if (c === '"') start = i + 1;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

/** A pino destination that keeps the lines it is given. */
export class Lines extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const line of chunk.toString().split('\n')) if (line !== '') this.lines.push(line);
    done();
  }
  records(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}
