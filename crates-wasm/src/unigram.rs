//! The Unigram model (T5, SentencePiece Unigram exports): the best segmentation of a word by the sum of
//! its pieces' scores (Viterbi over a trie of the vocabulary), as HuggingFace tokenizers'
//! `Unigram::encode_optimized` computes it, with its unk and byte-fallback rules.

use crate::bpe::FxMap;

/// A char no piece covers costs the lowest score minus this (HF's `K_UNK_PENALTY`).
const UNK_PENALTY: f64 = 10.0;

pub struct Unigram {
    /// Trie transitions: (node << 8 | byte) → node; node 0 is the root.
    edges: FxMap<u64, u32>,
    /// The piece id ending at each node, or -1.
    ends: Vec<i32>,
    scores: Vec<f64>,
    unk: Option<u32>,
    byte_fallback: bool,
    fallback_ids: [Option<u32>; 256],
    unk_score: f64,
    /// Best path per byte position: (score, start, id); start -1 while unreached.
    best: Vec<(f64, i64, u32)>,
    pieces: Vec<(usize, usize, u32)>,
}

impl Unigram {
    /// `pieces`: (token, score) in id order.
    pub fn new(pieces: Vec<(String, f64)>, unk: Option<u32>, byte_fallback: bool) -> Result<Unigram, String> {
        if let Some(u) = unk {
            if u as usize >= pieces.len() {
                return Err(format!("model.unk_id: {} is past the vocabulary ({} pieces)", u, pieces.len()));
            }
        }
        let mut edges: FxMap<u64, u32> = FxMap::default();
        let mut ends = vec![-1i32];
        let mut scores = Vec::with_capacity(pieces.len());
        let mut fallback_ids = [None; 256];
        let mut min_score = f64::INFINITY;
        for (id, (token, score)) in pieces.iter().enumerate() {
            let mut node = 0u32;
            for &b in token.as_bytes() {
                let next = ends.len() as u32;
                node = *edges.entry(((node as u64) << 8) | b as u64).or_insert(next);
                if node == next {
                    ends.push(-1);
                }
            }
            // HF maps a token listed twice to its last id.
            ends[node as usize] = id as i32;
            let b = token.as_bytes();
            if b.len() == 6 && b.starts_with(b"<0x") && b[5] == b'>' {
                if let Ok(v) = u8::from_str_radix(&token[3..5], 16) {
                    if token[3..5].bytes().all(|c| !c.is_ascii_lowercase()) {
                        fallback_ids[v as usize] = Some(id as u32);
                    }
                }
            }
            min_score = min_score.min(*score);
            scores.push(*score);
        }
        Ok(Unigram {
            edges,
            ends,
            scores,
            unk,
            byte_fallback,
            fallback_ids,
            unk_score: min_score - UNK_PENALTY,
            best: Vec::new(),
            pieces: Vec::new(),
        })
    }

    /// Appends the ids of one pre-tokenized word to `out`.
    pub fn encode_word(&mut self, w: &[u8], out: &mut Vec<u32>) -> Result<(), String> {
        let n = w.len();
        self.best.clear();
        self.best.resize(n + 1, (0.0, -1, 0));
        self.best[0].1 = 0;
        let mut start = 0;
        while start < n {
            let base = self.best[start].0;
            let char_len = crate::unicode::decode(w, start).1;
            let mut single = false;
            let mut node = 0u32;
            let mut end = start;
            while end < n {
                node = match self.edges.get(&(((node as u64) << 8) | w[end] as u64)) {
                    Some(&x) => x,
                    None => break,
                };
                end += 1;
                let id = self.ends[node as usize];
                if id < 0 {
                    continue;
                }
                let score = base + self.scores[id as usize];
                let target = &mut self.best[end];
                if target.1 < 0 || score > target.0 {
                    *target = (score, start as i64, id as u32);
                }
                single |= end - start == char_len;
            }
            if !single {
                let unk = self.unk.ok_or("a Unigram model without unk_id met a char outside its vocabulary")?;
                let score = base + self.unk_score;
                let target = &mut self.best[start + char_len];
                if target.1 < 0 || score > target.0 {
                    *target = (score, start as i64, unk);
                }
            }
            start += char_len;
        }
        // Walk back, fusing runs of unk into one piece (HF's Unigram always fuses them).
        self.pieces.clear();
        let mut end = n;
        while end > 0 {
            let (_, s, id) = self.best[end];
            let s = s as usize;
            match self.pieces.last_mut() {
                Some(last) if Some(id) == self.unk && Some(last.2) == self.unk && last.0 == end => last.0 = s,
                _ => self.pieces.push((s, end, id)),
            }
            end = s;
        }
        for i in (0..self.pieces.len()).rev() {
            let (a, b, id) = self.pieces[i];
            if Some(id) != self.unk {
                out.push(id);
                continue;
            }
            // HF looks the piece's text up: a fused unk run that is not a token goes to its bytes when
            // byte_fallback allows.
            match self.lookup(&w[a..b]) {
                Some(t) => out.push(t),
                None if self.byte_fallback && w[a..b].iter().all(|&x| self.fallback_ids[x as usize].is_some()) => {
                    out.extend(w[a..b].iter().filter_map(|&x| self.fallback_ids[x as usize]))
                }
                None => out.push(id),
            }
        }
        Ok(())
    }

    fn lookup(&self, s: &[u8]) -> Option<u32> {
        let mut node = 0u32;
        for &b in s {
            node = *self.edges.get(&(((node as u64) << 8) | b as u64))?;
        }
        u32::try_from(self.ends[node as usize]).ok()
    }
}
