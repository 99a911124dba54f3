// The typed API of the crate in crates-wasm/: KV block hashing, the byte-level BPE tokenizer and the
// logits kernels of sampling.
export {
  type BlockHashes,
  computeBlockHashes,
  computeBlockHashesRaw,
  hashToHex,
  hexToU64,
  type RawBlockHashes,
  xxh3,
} from './block-hashes.js';
export { LogitsArena } from './logits-arena.js';
export {
  type DecodeOptions,
  type EncodeOptions,
  IncrementalDecoder,
  Tokenizer,
  TokenizerLoadError,
} from './tokenizer.js';
