//! BPE, merging exactly as HuggingFace tokenizers' `Word::merge_all` does: a heap of candidate merges
//! ordered by (rank, position), stale entries detected by the merged id. Byte-level files (GPT-2,
//! Llama 3, Qwen, ...) start a word from its bytes; SentencePiece-style files (Llama 2, Gemma) from its
//! chars, a char missing from the vocabulary becoming its `<0xNN>` byte tokens (`byte_fallback`) or the
//! unk token, as HF's `BPE::merge_word` does.

pub mod word_map;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use word_map::WordMap;

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

/// The offsets in token `t` of each ▁ that follows another char (one a merge would have joined).
fn metaspaces_after_a_char(t: &[u8]) -> impl Iterator<Item = usize> + '_ {
    (1..t.len()).filter(move |&k| metaspace_at(t, k) && !(k >= 3 && metaspace_at(t, k - 3)))
}

/// Appends `ids` (mostly one or two: a slice copy would call memcpy).
#[inline(always)]
pub fn push_ids(out: &mut Vec<u32>, ids: &[u32]) {
    match *ids {
        [a] => out.push(a),
        [a, b] => {
            out.push(a);
            out.push(b);
        }
        _ => out.extend_from_slice(ids),
    }
}

/// Past this many (token, offset) pairs where a merge crosses the start of a ▁ run, a
/// SentencePiece-style word is merged whole.
const MAX_CROSSINGS: usize = 64;

#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    prev: i32,
    next: i32,
    len: u32,
}

/// SentencePiece's word boundary, U+2581 (what Metaspace and the Replace normalizer put for a space).
const METASPACE: &[u8] = "\u{2581}".as_bytes();

/// Whether `w` has a ▁ at `i` (by bytes: a 3-byte `starts_with` would call memcmp).
#[inline(always)]
fn metaspace_at(w: &[u8], i: usize) -> bool {
    w.len() >= i + 3 && w[i] == METASPACE[0] && w[i + 1] == METASPACE[1] && w[i + 2] == METASPACE[2]
}

/// How a word's first symbols are made.
pub struct Options {
    /// Bytes (GPT-2's alphabet) rather than chars.
    pub byte_level: bool,
    pub ignore_merges: bool,
    pub byte_fallback: bool,
    pub fuse_unk: bool,
    pub unk: Option<u32>,
}

pub struct Bpe {
    /// The id of each single byte (byte-level) or ASCII char, if the vocabulary has it.
    byte_ids: [Option<u32>; 256],
    /// The id of each `<0xNN>` token (byte fallback).
    fallback_ids: [Option<u32>; 256],
    opts: Options,
    /// Few tokens have a ▁ after another char (none in Llama 2, one in Gemma 3), so merges cross the
    /// start of a ▁ run only where one of them is in the text: a SentencePiece-style word (the whole
    /// text, without a pre-tokenizer) is merged piece by piece elsewhere, each cached, with the
    /// same result.
    split_at_metaspace: bool,
    /// Those tokens, each with the offset of such a ▁.
    crossings: Vec<(Vec<u8>, usize)>,
    /// Raw bytes of each vocabulary token → [id] (`ignore_merges`, SentencePiece chars).
    vocab: WordMap,
    /// (left id << 32 | right id) → (rank, merged id).
    merges: FxMap<u64, (u32, u32)>,
    cache: WordMap,
    symbols: Vec<Symbol>,
    heap: BinaryHeap<Reverse<(u32, u32, u32)>>,
}

impl Bpe {
    /// `vocab`: token (its bytes, or its UTF-8 when not byte-level) → id.
    pub fn new(vocab: FxMap<Vec<u8>, u32>, merges: &[(u32, u32, u32)], opts: Options) -> Bpe {
        let mut byte_ids = [None; 256];
        let mut fallback_ids = [None; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            if opts.byte_level || b < 0x80 {
                *slot = vocab.get(&[b as u8][..]).copied();
            }
            fallback_ids[b] = vocab.get(format!("<0x{:02X}>", b).as_bytes()).copied();
        }
        let mut map: FxMap<u64, (u32, u32)> = FxMap::default();
        map.reserve(merges.len());
        for (rank, &(a, b, m)) in merges.iter().enumerate() {
            // HF keeps the first rank of a pair listed twice.
            map.entry(((a as u64) << 32) | b as u64).or_insert((rank as u32, m));
        }
        let crossings: Vec<(Vec<u8>, usize)> = if opts.byte_level {
            Vec::new()
        } else {
            let all = vocab.keys().flat_map(|t| metaspaces_after_a_char(t).map(move |k| (t, k)));
            all.take(MAX_CROSSINGS + 1).map(|(t, k)| (t.clone(), k)).collect()
        };
        let split_at_metaspace = !opts.byte_level && crossings.len() <= MAX_CROSSINGS;
        let mut table = WordMap::unbounded();
        for (token, &id) in &vocab {
            table.insert(token, &[id]);
        }
        Bpe {
            split_at_metaspace,
            crossings,
            byte_ids,
            fallback_ids,
            opts,
            vocab: table,
            merges: map,
            cache: WordMap::cache(),
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
                return;
            }
            if self.opts.byte_level {
                return;
            }
        }
        if !self.split_at_metaspace {
            return self.encode_piece(w, out, self.opts.ignore_merges);
        }
        if self.opts.ignore_merges {
            if let Some(id) = self.vocab.get(w) {
                out.extend_from_slice(id);
                return;
            }
        }
        // Before each ▁ that follows another char (a ▁ run stays whole), unless a token crosses there.
        let mut start = 0;
        let mut i = 1;
        while let Some(k) = w.get(i..).and_then(|rest| rest.iter().position(|&b| b == METASPACE[0])) {
            i += k;
            if metaspace_at(w, i) && !(i >= 3 && metaspace_at(w, i - 3)) && !self.crossed(w, i) {
                self.encode_piece(&w[start..i], out, false);
                start = i;
                i += 3;
            } else {
                i += 1;
            }
        }
        self.encode_piece(&w[start..], out, false);
    }

    /// Whether a token that a merge across the ▁ at `i` would make is in `w` there.
    fn crossed(&self, w: &[u8], i: usize) -> bool {
        self.crossings.iter().any(|(t, k)| i >= *k && w.get(i - k..i - k + t.len()) == Some(&t[..]))
    }

    /// A piece of a word that merges never cross out of: from the cache, else its token when `whole`
    /// (ignore_merges) and the vocabulary has it, else merged. The cache is looked up first: the
    /// words of a text are few, and their table small beside a whole vocabulary's.
    fn encode_piece(&mut self, w: &[u8], out: &mut Vec<u32>, whole: bool) {
        if let Some(ids) = self.cache.get(w) {
            push_ids(out, ids);
            return;
        }
        let start = out.len();
        match self.vocab.get(w).filter(|_| whole) {
            Some(id) => out.extend_from_slice(id),
            None => self.merge_word(w, out),
        }
        self.cache.insert(w, &out[start..]);
    }

    fn push_symbol(&mut self, id: u32) {
        let n = self.symbols.len() as i32;
        self.symbols.push(Symbol { id, prev: n - 1, next: n + 1, len: 1 });
    }

    /// A SentencePiece-style word's first symbols: its chars, with byte fallback and unk as HF's.
    fn char_symbols(&mut self, w: &[u8]) {
        // A pending unk (fused with the next ones when fuse_unk); HF adds byte-fallback tokens before it.
        let mut unk: Option<u32> = None;
        let mut i = 0;
        while i < w.len() {
            let len = crate::unicode::decode(w, i).1;
            let c = &w[i..i + len];
            i += len;
            let id = match len {
                1 => self.byte_ids[c[0] as usize],
                _ => self.vocab.get(c).and_then(|id| id.first().copied()),
            };
            if let Some(id) = id {
                if let Some(u) = unk.take() {
                    self.push_symbol(u);
                }
                self.push_symbol(id);
                continue;
            }
            if self.opts.byte_fallback && c.iter().all(|&b| self.fallback_ids[b as usize].is_some()) {
                for &b in c {
                    if let Some(id) = self.fallback_ids[b as usize] {
                        self.push_symbol(id);
                    }
                }
                continue;
            }
            if let Some(u) = self.opts.unk {
                if unk.is_some() && !self.opts.fuse_unk {
                    self.push_symbol(u);
                }
                unk = Some(u);
            }
        }
        if let Some(u) = unk {
            self.push_symbol(u);
        }
    }

    fn merge_word(&mut self, w: &[u8], out: &mut Vec<u32>) {
        self.symbols.clear();
        if self.opts.byte_level {
            for &b in w {
                // A byte missing from the vocabulary is dropped, as HF does without an unk token.
                if let Some(id) = self.byte_ids[b as usize] {
                    self.push_symbol(id);
                }
            }
        } else {
            self.char_symbols(w);
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

