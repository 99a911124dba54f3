// Sequence hashes of a chain of local hashes (DESIGN §6), computed with the WASM hasher: what the
// router derives from a request's tokens, for tests that make up local hashes.
import { hashToHex, hexToU64, xxh3 } from '../../../src/wasm/index.js';

export function chain(locals: readonly string[]): string[] {
  const out: string[] = [];
  for (const l of locals) {
    const prev = out.at(-1);
    if (prev === undefined) {
      out.push(l);
      continue;
    }
    const bytes = new Uint8Array(16);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(0, hexToU64(prev), true);
    view.setBigUint64(8, hexToU64(l), true);
    out.push(hashToHex(xxh3(bytes, 1337n)));
  }
  return out;
}
