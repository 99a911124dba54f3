//! The WebAssembly hot path of dynamo-ts: KV block hashing, a tokenizer.json tokenizer and the
//! sampler's passes over logits (argmax, max, the grammar mask).
//!
//! Two kinds of exports (built by wasm-pack into crates-wasm/pkg/, loaded by src/wasm/module.ts):
//! - cold calls (loading a tokenizer, tables, lookups) are `#[wasm_bindgen]` functions: the generated glue
//!   copies bytes and strings across and turns an `Err` into a thrown exception;
//! - hot paths (block hashes, encode, decode, logits kernels) are plain functions over linear memory, which
//!   the loader calls with its own reused buffers: the glue would allocate and copy per call. Those that
//!   can fail return a status and leave their message in `last_error_*`.

pub mod bert_tables;
pub mod block_hash;
pub mod bpe;
pub mod decoders;
pub mod float;
pub mod hf_unicode9;
pub mod host;
pub mod json;
pub mod logits;
pub mod normalizers;
pub mod regex;
pub mod tokenizer;
pub mod unicode;
pub mod unicode_tables;
pub mod unigram;
pub mod wordpiece;

use std::alloc::{alloc, dealloc, Layout};
use wasm_bindgen::prelude::wasm_bindgen;

fn layout(size: usize) -> Layout {
    // Align 8 so the loader can view any buffer as u32 or u64 words.
    Layout::from_size_align(size.max(1), 8).unwrap_or_else(|_| std::process::abort())
}

/// Allocates `size` bytes for the loader (aligned to 8).
#[no_mangle]
pub extern "C" fn wasm_alloc(size: usize) -> *mut u8 {
    unsafe { alloc(layout(size)) }
}

/// Frees what `wasm_alloc(size)` returned.
///
/// # Safety
/// `ptr` must come from `wasm_alloc` with the same `size`.
#[no_mangle]
pub unsafe extern "C" fn wasm_free(ptr: *mut u8, size: usize) {
    dealloc(ptr, layout(size))
}

/// Hashes the full blocks of `n` u32 tokens at `tokens` (DESIGN §6). Writes the local hashes, then the
/// sequence hashes, as u64 to `out` (room for `2 * (n / block_size)` words). With `has_parent` the first
/// block chains onto sequence hash `parent`. Returns the number of blocks.
///
/// # Safety
/// `tokens` holds `n` u32, `out` room for `2 * (n / block_size)` u64, `block_size > 0`.
#[no_mangle]
pub unsafe extern "C" fn block_hashes(
    tokens: *const u32,
    n: usize,
    block_size: usize,
    has_parent: u32,
    parent: u64,
    out: *mut u64,
) -> usize {
    let blocks = n / block_size;
    let tokens = std::slice::from_raw_parts(tokens, n);
    let out = std::slice::from_raw_parts_mut(out, 2 * blocks);
    let (local, sequence) = out.split_at_mut(blocks);
    block_hash::block_hashes(tokens, block_size, if has_parent != 0 { Some(parent) } else { None }, local, sequence);
    blocks
}

/// XXH3-64 of `len` bytes at `ptr` with `seed` (exported for tests against an independent implementation).
///
/// # Safety
/// `ptr` holds `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn xxh3_64(ptr: *const u8, len: usize, seed: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(std::slice::from_raw_parts(ptr, len), seed)
}

/// Writes each of the `count` u64 at `words` as 16 lowercase hex digits to `out` (room for `16 * count`
/// bytes): the loader turns them into strings with one latin1 read instead of a BigInt per hash.
///
/// # Safety
/// `words` holds `count` u64, `out` room for `16 * count` bytes.
#[no_mangle]
pub unsafe extern "C" fn hex_u64(words: *const u64, count: usize, out: *mut u8) {
    for i in 0..count {
        let w = *words.add(i);
        let dst = out.add(16 * i) as *mut [u8; 2];
        for k in 0..8 {
            *dst.add(k) = HEX_PAIRS[((w >> (56 - 8 * k)) & 0xFF) as usize];
        }
    }
}

/// The two lowercase hex digits of each byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = [DIGITS[b >> 4], DIGITS[b & 15]];
        b += 1;
    }
    t
};

// ---- Tokenizers: handles into a table; errors left in LAST_ERROR ----

static mut TOKENIZERS: Vec<Option<tokenizer::Tokenizer>> = Vec::new();
static mut LAST_ERROR: String = String::new();

fn set_error(e: String) {
    unsafe { LAST_ERROR = e }
}

/// The UTF-8 message of the last failed call: its address (length from `last_error_len`).
#[no_mangle]
pub extern "C" fn last_error_ptr() -> *const u8 {
    unsafe { LAST_ERROR.as_ptr() }
}

#[no_mangle]
pub extern "C" fn last_error_len() -> usize {
    unsafe { LAST_ERROR.len() }
}

// Parsed JSON documents waiting for `tokenizer_new`, and the buffer results longer than a number go in.
static mut DOCS: Vec<Option<json::Value>> = Vec::new();
static mut RESULT: Vec<u8> = Vec::new();

/// Where the last result written to the result buffer starts (its length was returned).
#[no_mangle]
pub extern "C" fn result_ptr() -> *const u8 {
    unsafe { RESULT.as_ptr() }
}

/// Parses a JSON document; returns its handle (> 0).
#[wasm_bindgen]
pub fn json_parse(json: &[u8]) -> Result<u32, String> {
    let v = json::parse(json)?;
    unsafe {
        DOCS.push(Some(v));
        Ok(DOCS.len() as u32)
    }
}

/// The document as JSON without `model.vocab` and `model.merges` (emptied): what the loader validates
/// the configuration from.
#[wasm_bindgen]
pub fn json_skeleton(doc: u32) -> Result<String, String> {
    unsafe {
        let v = match DOCS.get_mut((doc as usize).wrapping_sub(1)) {
            Some(Some(v)) => v,
            _ => return Err(format!("no JSON document {}", doc)),
        };
        let mut out = String::new();
        if let Some(model) = v.get_mut("model") {
            let vocab = model.take("vocab");
            let merges = model.take("merges");
            v.write(&mut out);
            if let Some(model) = v.get_mut("model") {
                if let (Some(x), Some(slot)) = (vocab, model.get_mut("vocab")) {
                    *slot = x;
                }
                if let (Some(x), Some(slot)) = (merges, model.get_mut("merges")) {
                    *slot = x;
                }
            }
        } else {
            v.write(&mut out);
        }
        Ok(out)
    }
}

/// Frees a parsed document.
#[wasm_bindgen]
pub fn json_free(doc: u32) {
    unsafe {
        if let Some(slot) = DOCS.get_mut((doc as usize).wrapping_sub(1)) {
            *slot = None;
        }
    }
}

/// Builds a tokenizer from the loader's binary spec and parsed document `doc` (which it frees);
/// returns its handle (> 0).
#[wasm_bindgen]
pub fn tokenizer_new(spec: &[u8], doc: u32) -> Result<u32, String> {
    unsafe {
        let mut v = match DOCS.get_mut((doc as usize).wrapping_sub(1)).and_then(|d| d.take()) {
            Some(v) => v,
            None => return Err(format!("no JSON document {}", doc)),
        };
        TOKENIZERS.push(Some(tokenizer::Tokenizer::new(spec, &mut v)?));
        Ok(TOKENIZERS.len() as u32)
    }
}

fn tokenizer(handle: u32) -> Result<&'static mut tokenizer::Tokenizer, String> {
    unsafe {
        match TOKENIZERS.get_mut((handle as usize).wrapping_sub(1)) {
            Some(Some(t)) => Ok(t),
            _ => Err(format!("no tokenizer with handle {}", handle)),
        }
    }
}

/// One past the largest id (model and added tokens), or 0 for a bad handle.
#[wasm_bindgen]
pub fn tokenizer_vocab_size(handle: u32) -> u32 {
    tokenizer(handle).map_or(0, |t| t.vocab_size() as u32)
}

/// The id of a token, if it has one (none for a bad handle).
#[wasm_bindgen]
pub fn tokenizer_token_to_id(handle: u32, token: &str) -> Option<u32> {
    tokenizer(handle).ok()?.token_to_id(token)
}

/// The decode table (see `Tokenizer::decode_table`).
#[wasm_bindgen]
pub fn tokenizer_decode_table(handle: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    tokenizer(handle)?.decode_table(&mut out);
    Ok(out)
}

/// Every id's token string (see `Tokenizer::token_strings`).
#[wasm_bindgen]
pub fn tokenizer_token_strings(handle: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    tokenizer(handle)?.token_strings(&mut out);
    Ok(out)
}

/// Frees a tokenizer; its handle is not reused.
#[wasm_bindgen]
pub fn tokenizer_free(handle: u32) {
    unsafe {
        if let Some(slot) = TOKENIZERS.get_mut((handle as usize).wrapping_sub(1)) {
            *slot = None;
        }
    }
}

/// Encodes `len` bytes of valid UTF-8 at `text`; returns the number of ids (read them at
/// `tokenizer_ids`), or -1 with an error.
///
/// # Safety
/// `text` holds `len` bytes of valid UTF-8.
#[no_mangle]
pub unsafe extern "C" fn tokenizer_encode(handle: u32, text: *const u8, len: usize, add_special_tokens: u32) -> isize {
    let t = match TOKENIZERS.get_mut((handle as usize).wrapping_sub(1)) {
        Some(Some(t)) => t,
        _ => {
            set_error(format!("no tokenizer with handle {}", handle));
            return -1;
        }
    };
    match t.encode(std::slice::from_raw_parts(text, len), add_special_tokens != 0) {
        Ok(()) => t.out.len() as isize,
        Err(e) => {
            set_error(e);
            -1
        }
    }
}

/// Decodes the `n` u32 ids at `ids` (HF's decode, through the tokenizer's decoder chain) into the
/// result buffer; returns its length, or -1 with an error.
///
/// # Safety
/// `ids` holds `n` u32, aligned to 4.
#[no_mangle]
pub unsafe extern "C" fn tokenizer_decode(handle: u32, ids: *const u32, n: usize, skip_special_tokens: u32) -> isize {
    let t = match tokenizer(handle) {
        Ok(t) => t,
        Err(e) => {
            set_error(e);
            return -1;
        }
    };
    match t.decode(std::slice::from_raw_parts(ids, n), skip_special_tokens != 0) {
        Ok(s) => {
            RESULT = s.into_bytes();
            RESULT.len() as isize
        }
        Err(e) => {
            set_error(e);
            -1
        }
    }
}

/// Where the ids of the tokenizer's last encode are (valid until its next call).
#[no_mangle]
pub extern "C" fn tokenizer_ids(handle: u32) -> *const u32 {
    unsafe {
        match TOKENIZERS.get((handle as usize).wrapping_sub(1)) {
            Some(Some(t)) => t.out.as_ptr(),
            _ => std::ptr::null(),
        }
    }
}

/// Index of the first largest of the `len` f32 at `row`: greedy sampling's token (ties go to the lower id).
///
/// # Safety
/// `row` holds `len` f32, aligned to 4.
#[no_mangle]
pub unsafe extern "C" fn argmax_f32(row: *const f32, len: usize) -> u32 {
    logits::argmax(std::slice::from_raw_parts(row, len)) as u32
}

/// Greedy sampling under structured output: `argmax_f32` with the ids the XGrammar bitmask of `words`
/// u32 at `mask` refuses (and those past it) counted as −∞; the row is not written.
///
/// # Safety
/// `row` holds `len` f32, `mask` `words` u32, both aligned to 4.
#[no_mangle]
pub unsafe extern "C" fn masked_argmax_f32(row: *const f32, len: usize, mask: *const u32, words: usize) -> u32 {
    logits::masked_argmax(std::slice::from_raw_parts(row, len), std::slice::from_raw_parts(mask, words)) as u32
}

/// Sets the ids the XGrammar bitmask of `words` u32 at `mask` refuses (and those past it) to −∞.
///
/// # Safety
/// `row` holds `len` f32, `mask` `words` u32, both aligned to 4.
#[no_mangle]
pub unsafe extern "C" fn apply_mask_f32(row: *mut f32, len: usize, mask: *const u32, words: usize) {
    logits::apply_mask(std::slice::from_raw_parts_mut(row, len), std::slice::from_raw_parts(mask, words))
}

/// The largest of the `len` f32 at `row` (-inf when there is none).
///
/// # Safety
/// `row` holds `len` f32, aligned to 4.
#[no_mangle]
pub unsafe extern "C" fn max_f32(row: *const f32, len: usize) -> f32 {
    logits::max(std::slice::from_raw_parts(row, len))
}
