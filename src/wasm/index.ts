// The typed API of the crate in crates-wasm/: KV block hashing and the byte-level BPE tokenizer.
export {
  type BlockHashes,
  computeBlockHashes,
  computeBlockHashesRaw,
  hashToHex,
  hexToU64,
  type RawBlockHashes,
  xxh3,
} from './block-hashes.js';
export {
  type DecodeOptions,
  type EncodeOptions,
  IncrementalDecoder,
  Tokenizer,
  TokenizerLoadError,
} from './tokenizer.js';
