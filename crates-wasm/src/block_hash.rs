//! KV block hashes (DESIGN §6) with `xxhash-rust`'s XXH3-64, the crate Dynamo itself hashes blocks with
//! (Debian's `librust-xxhash-rust-dev`). Verified against an independent implementation (hash-wasm) in
//! test/unit/wasm/block-hashes.test.ts.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// DESIGN §6: the seed of every KV block hash.
pub const BLOCK_HASH_SEED: u64 = 1337;

/// Local and sequence hashes of the full blocks of `tokens` (DESIGN §6), written to `local` and
/// `sequence` (each `tokens.len() / block_size` long). With `parent`, the first block chains onto that
/// sequence hash (a request continued block by block); without, it starts a sequence.
pub fn block_hashes(tokens: &[u32], block_size: usize, parent: Option<u64>, local: &mut [u64], sequence: &mut [u64]) {
    let mut bytes = Vec::new();
    let mut parent = parent;
    for (i, block) in tokens.chunks_exact(block_size).enumerate() {
        let l = if cfg!(target_endian = "little") {
            // The tokens' memory already is their u32 little-endian bytes.
            xxh3_64_with_seed(unsafe { std::slice::from_raw_parts(block.as_ptr() as *const u8, block.len() * 4) }, BLOCK_HASH_SEED)
        } else {
            bytes.resize(block_size * 4, 0);
            for (j, t) in block.iter().enumerate() {
                bytes[4 * j..4 * j + 4].copy_from_slice(&t.to_le_bytes());
            }
            xxh3_64_with_seed(&bytes, BLOCK_HASH_SEED)
        };
        let s = match parent {
            None => l,
            Some(p) => {
                let mut pair = [0u8; 16];
                pair[..8].copy_from_slice(&p.to_le_bytes());
                pair[8..].copy_from_slice(&l.to_le_bytes());
                xxh3_64_with_seed(&pair, BLOCK_HASH_SEED)
            }
        };
        local[i] = l;
        sequence[i] = s;
        parent = Some(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_vector() {
        let l = &mut [0u64; 1];
        let s = &mut [0u64; 1];
        block_hashes(&[1, 2, 3, 4], 4, None, l, s);
        assert_eq!(l[0], 0xcb38e4d7fb2dca5c);
        assert_eq!(s[0], l[0]);
    }
}
