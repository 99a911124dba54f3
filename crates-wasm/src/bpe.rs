//! Byte-level BPE (the model of GPT-2, Llama 3, Qwen, ... tokenizer.json files), merging exactly as
//! HuggingFace tokenizers' `Word::merge_all` does: a heap of candidate merges ordered by (rank,
//! position), stale entries detected by the merged id.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash (rustc's): fast; the keys (token bytes, id pairs, cached words) need no DoS-resistant hash,
/// since a word's cost is bounded by its length either way.
#[derive(Default, Clone, Copy)]
pub struct Fx(u64);

impl Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(a));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut a = [0u8; 8];
            a[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(a) ^ (rest.len() as u64) << 59);
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64)
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64)
    }
    #[inline]
    fn finish(&self) -> u64 {
        // A multiply only carries upward, and hashbrown picks buckets from the low bits: rotate the
        // well-mixed high bits down (as rustc-hash 2 does), or keys differing only in high bits collide.
        self.0.rotate_left(26)
    }
}

pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    prev: i32,
    next: i32,
    len: u32,
}

/// Words cached: past this many the cache is cleared (a bounded memory for unbounded input).
const CACHE_CAPACITY: usize = 100_000;
/// Longer words are not cached (they are rare, and would pin memory).
const CACHE_MAX_WORD: usize = 256;

pub struct Bpe {
    /// The id of each single byte, if the vocabulary has it.
    byte_ids: [Option<u32>; 256],
    /// Raw bytes of each vocabulary token → id (for `ignore_merges`).
    vocab: FxMap<Vec<u8>, u32>,
    /// (left id << 32 | right id) → (rank, merged id).
    merges: FxMap<u64, (u32, u32)>,
    ignore_merges: bool,
    cache: FxMap<Vec<u8>, Vec<u32>>,
    symbols: Vec<Symbol>,
    heap: BinaryHeap<Reverse<(u32, u32, u32)>>,
}

impl Bpe {
    pub fn new(vocab: FxMap<Vec<u8>, u32>, merges: &[(u32, u32, u32)], ignore_merges: bool) -> Bpe {
        let mut byte_ids = [None; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = vocab.get(&[b as u8][..]).copied();
        }
        let mut map: FxMap<u64, (u32, u32)> = FxMap::default();
        map.reserve(merges.len());
        for (rank, &(a, b, m)) in merges.iter().enumerate() {
            // HF keeps the first rank of a pair listed twice.
            map.entry(((a as u64) << 32) | b as u64).or_insert((rank as u32, m));
        }
        Bpe {
            byte_ids,
            vocab,
            merges: map,
            ignore_merges,
            cache: FxMap::default(),
            symbols: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }

    /// Whether every byte has a token (else HF would need the unk token).
    pub fn has_every_byte(&self) -> bool {
        self.byte_ids.iter().all(|b| b.is_some())
    }

    #[inline]
    fn merge_of(&self, a: u32, b: u32) -> Option<(u32, u32)> {
        self.merges.get(&(((a as u64) << 32) | b as u64)).copied()
    }

    /// Appends the ids of one pre-tokenized word (raw bytes) to `out`.
    pub fn encode_word(&mut self, w: &[u8], out: &mut Vec<u32>) {
        if w.len() == 1 {
            if let Some(id) = self.byte_ids[w[0] as usize] {
                out.push(id);
            }
            return;
        }
        if self.ignore_merges {
            if let Some(&id) = self.vocab.get(w) {
                out.push(id);
                return;
            }
        }
        if let Some(ids) = self.cache.get(w) {
            out.extend_from_slice(ids);
            return;
        }
        let start = out.len();
        self.merge_word(w, out);
        if w.len() <= CACHE_MAX_WORD {
            if self.cache.len() >= CACHE_CAPACITY {
                self.cache.clear();
            }
            self.cache.insert(w.to_vec(), out[start..].to_vec());
        }
    }

    fn merge_word(&mut self, w: &[u8], out: &mut Vec<u32>) {
        self.symbols.clear();
        for &b in w {
            // A byte missing from the vocabulary is dropped, as HF does without an unk token.
            if let Some(id) = self.byte_ids[b as usize] {
                let n = self.symbols.len() as i32;
                self.symbols.push(Symbol { id, prev: n - 1, next: n + 1, len: 1 });
            }
        }
        if let Some(last) = self.symbols.last_mut() {
            last.next = -1;
        }
        self.heap.clear();
        for i in 0..self.symbols.len().saturating_sub(1) {
            if let Some((rank, m)) = self.merge_of(self.symbols[i].id, self.symbols[i + 1].id) {
                self.heap.push(Reverse((rank, i as u32, m)));
            }
        }
        while let Some(Reverse((_, pos, new_id))) = self.heap.pop() {
            let pos = pos as usize;
            let cur = self.symbols[pos];
            if cur.len == 0 || cur.next == -1 {
                continue;
            }
            let next_pos = cur.next as usize;
            let right = self.symbols[next_pos];
            match self.merge_of(cur.id, right.id) {
                Some((_, m)) if m == new_id => {}
                _ => continue,
            }
            self.symbols[pos].id = new_id;
            self.symbols[pos].len += right.len;
            self.symbols[pos].next = right.next;
            self.symbols[next_pos].len = 0;
            if right.next > -1 && (right.next as usize) < self.symbols.len() {
                self.symbols[right.next as usize].prev = pos as i32;
            }
            let cur = self.symbols[pos];
            if cur.prev >= 0 {
                let prev = cur.prev as usize;
                if let Some((rank, m)) = self.merge_of(self.symbols[prev].id, cur.id) {
                    self.heap.push(Reverse((rank, prev as u32, m)));
                }
            }
            if cur.next >= 0 && (cur.next as usize) < self.symbols.len() {
                if let Some((rank, m)) = self.merge_of(cur.id, self.symbols[cur.next as usize].id) {
                    self.heap.push(Reverse((rank, pos as u32, m)));
                }
            }
        }
        out.extend(self.symbols.iter().filter(|s| s.len != 0).map(|s| s.id));
    }
}
