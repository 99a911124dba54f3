//! The WordPiece model (BERT and the embedding models built on it): greedy longest-match-first pieces,
//! the ones after the first spelled with the continuing prefix (`##`), the whole word becoming the unk
//! token when a piece cannot be found or it is longer than `max_input_chars_per_word`, as HuggingFace
//! tokenizers' `WordPiece::tokenize` does.

use crate::bpe::FxMap;

pub struct WordPiece {
    vocab: FxMap<Vec<u8>, u32>,
    prefix: Vec<u8>,
    max_chars: usize,
    unk: Option<u32>,
    key: Vec<u8>,
}

impl WordPiece {
    pub fn new(vocab: FxMap<Vec<u8>, u32>, prefix: &str, max_chars: usize, unk: Option<u32>) -> WordPiece {
        WordPiece { vocab, prefix: prefix.as_bytes().to_vec(), max_chars, unk, key: Vec::new() }
    }

    fn unk(&self, out: &mut Vec<u32>) -> Result<(), String> {
        out.push(self.unk.ok_or("a WordPiece model whose unk_token is not in the vocabulary met an unknown word")?);
        Ok(())
    }

    /// Appends the ids of one pre-tokenized word to `out`.
    pub fn encode_word(&mut self, w: &[u8], out: &mut Vec<u32>) -> Result<(), String> {
        let chars = w.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        if chars > self.max_chars {
            return self.unk(out);
        }
        let mark = out.len();
        let mut start = 0;
        while start < w.len() {
            let mut end = w.len();
            let found = loop {
                if end <= start {
                    break None;
                }
                self.key.clear();
                if start > 0 {
                    self.key.extend_from_slice(&self.prefix);
                }
                self.key.extend_from_slice(&w[start..end]);
                if let Some(&id) = self.vocab.get(&self.key) {
                    break Some(id);
                }
                // Back off one char.
                end -= 1;
                while end > start && w[end] & 0xC0 == 0x80 {
                    end -= 1;
                }
            };
            match found {
                Some(id) => out.push(id),
                None => {
                    out.truncate(mark);
                    return self.unk(out);
                }
            }
            start = end;
        }
        Ok(())
    }
}
