//! The encode and decode pipelines of a tokenizer.json, as HuggingFace tokenizers runs them:
//!
//!   text ─ added tokens (not normalized) ─ normalizers ─ added tokens (normalized) ─ pre-tokenizers
//!        ─ model per word (BPE byte-level or SentencePiece-style, Unigram, WordPiece)
//!        ─ post-processor template (BOS/EOS, BERT's CLS/SEP) when special tokens are added
//!   ids ─ token strings ─ decoder chain (decoders.rs)
//!
//! The loader (src/wasm/tokenizer.ts) parses and validates the JSON and hands this module a compact
//! binary spec (`Spec::read`); everything not supported was refused there or is refused here.

use crate::bpe::word_map::WordMap;
use crate::bpe::{Bpe, FxMap, Options};
use crate::decoders::Dec;
use crate::json::Value;
use crate::normalizers::{is_white_space, Classes, Norm};
use crate::regex::{Pattern, Regex, GPT2_PATTERN};
use crate::unigram::Unigram;
use crate::unicode::{category_ranges, decode, white_space, CharSet};
use crate::wordpiece::WordPiece;

/// Normalization forms, in the loader's numbering.
#[derive(Clone, Copy, PartialEq)]
pub enum Form {
    Nfc = 1,
    Nfd = 2,
    Nfkc = 3,
    Nfkd = 4,
}

#[derive(Clone, Copy, PartialEq)]
enum Behavior {
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

#[derive(Clone, Copy, PartialEq)]
enum Prepend {
    Always,
    First,
    Never,
}

enum Step {
    Split { pattern: Pattern, behavior: Behavior, invert: bool },
    ByteLevel { add_prefix_space: bool, regex: Option<Regex> },
    Digits { individual: bool },
    Metaspace { replacement: Vec<u8>, prepend: Prepend, split: bool },
    Bert,
    WhitespaceSplit,
}

enum Model {
    Bpe(Bpe),
    Unigram(Unigram, WordMap),
    WordPiece(WordPiece, WordMap),
}

impl Model {
    fn encode_word(&mut self, w: &[u8], out: &mut Vec<u32>) -> Result<(), String> {
        let (cache, start) = match self {
            Model::Bpe(m) => {
                m.encode_word(w, out);
                return Ok(());
            }
            Model::Unigram(m, cache) => {
                if let Some(ids) = cache.get(w) {
                    crate::bpe::push_ids(out, ids);
                    return Ok(());
                }
                let start = out.len();
                m.encode_word(w, out)?;
                (cache, start)
            }
            Model::WordPiece(m, cache) => {
                if let Some(ids) = cache.get(w) {
                    crate::bpe::push_ids(out, ids);
                    return Ok(());
                }
                let start = out.len();
                m.encode_word(w, out)?;
                (cache, start)
            }
        };
        // Words the models' cache (bpe/word_map.rs) holds: Unigram, WordPiece; the BPE model keeps its own.
        cache.insert(w, &out[start..]);
        Ok(())
    }
}

const FLAG_LSTRIP: u32 = 2;
const FLAG_RSTRIP: u32 = 4;

struct Added {
    /// What is matched (for a normalized token, its normalized form).
    content: Vec<u8>,
    /// The token as tokenizer.json gives it.
    original: String,
    id: u32,
    flags: u32,
}

/// Leftmost-longest, non-overlapping matching of added tokens (HF uses Aho-Corasick with that
/// match kind): a byte trie walked from each position, keeping the longest token seen (a file may have
/// thousands of `<unused…>` tokens, or `\n` runs of every length up to 31).
struct AddedMatcher {
    tokens: Vec<Added>,
    /// (node << 8 | byte) → node; node 0 is the root.
    edges: FxMap<u64, u32>,
    /// The token (index in `tokens`) ending at each node, or u32::MAX.
    ends: Vec<u32>,
    /// Whether any token starts with a byte (most text bytes are then skipped at once).
    first: [bool; 256],
    /// Whether a token of under 4 bytes starts with a byte; for the longer ones, a bit per hash of
    /// their first 4 bytes. The trie is walked only where a token may start (Gemma 3's `▁▁`… tokens
    /// would otherwise send every `▁` of its text into it).
    short: [bool; 256],
    prefixes: Vec<u64>,
}

/// A bit of `AddedMatcher::prefixes` for 4 bytes.
fn prefix_bit(p: &[u8]) -> usize {
    let mut a = [0u8; 4];
    a.copy_from_slice(&p[..4]);
    (u32::from_le_bytes(a).wrapping_mul(0x9E37_79B1) >> 14) as usize
}

impl AddedMatcher {
    fn new(mut tokens: Vec<Added>) -> AddedMatcher {
        tokens.retain(|t| !t.content.is_empty());
        let mut edges: FxMap<u64, u32> = FxMap::default();
        let mut ends = vec![u32::MAX];
        let mut first = [false; 256];
        let mut short = [false; 256];
        let mut prefixes = vec![0u64; (1 << 18) / 64];
        for (i, t) in tokens.iter().enumerate() {
            first[t.content[0] as usize] = true;
            if t.content.len() < 4 {
                short[t.content[0] as usize] = true;
            } else {
                let bit = prefix_bit(&t.content);
                prefixes[bit / 64] |= 1 << (bit % 64);
            }
            let mut node = 0u32;
            for &b in &t.content {
                let next = ends.len() as u32;
                node = *edges.entry(((node as u64) << 8) | b as u64).or_insert(next);
                if node == next {
                    ends.push(u32::MAX);
                }
            }
            // For equal contents the earlier token wins.
            if ends[node as usize] == u32::MAX {
                ends[node as usize] = i as u32;
            }
        }
        AddedMatcher { tokens, edges, ends, first, short, prefixes }
    }

    /// The longest token `s` starts with.
    fn find(&self, s: &[u8]) -> Option<&Added> {
        if !self.first[s[0] as usize] {
            return None;
        }
        let mut node = 0u32;
        let mut found = u32::MAX;
        for &b in s {
            node = match self.edges.get(&(((node as u64) << 8) | b as u64)) {
                Some(&n) => n,
                None => break,
            };
            if self.ends[node as usize] != u32::MAX {
                found = self.ends[node as usize];
            }
        }
        self.tokens.get(found as usize)
    }

    /// Splits `s` into pieces: Some(id) for a matched token, None for text between.
    fn split(&self, s: &[u8], ws: &CharSet, out: &mut Vec<(usize, usize, Option<u32>)>) {
        let mut start_offset = 0;
        let mut pos = 0;
        while pos < s.len() {
            // Straight to the next byte a token starts with.
            match s[pos..].iter().position(|&b| self.first[b as usize]) {
                Some(skip) => pos += skip,
                None => break,
            }
            let may_start = |p: &[u8]| {
                let bit = prefix_bit(p);
                self.prefixes[bit / 64] & (1 << (bit % 64)) != 0
            };
            if !self.short[s[pos] as usize] && !s.get(pos..pos + 4).map_or(false, may_start) {
                pos += 1;
                continue;
            }
            let t = match self.find(&s[pos..]) {
                Some(t) => t,
                None => {
                    pos += 1;
                    continue;
                }
            };
            let mut start = pos;
            let mut stop = pos + t.content.len();
            if t.flags & FLAG_LSTRIP != 0 {
                let mut p = start;
                while p > 0 {
                    let q = prev_char(s, p);
                    if !ws.contains(decode(s, q).0) {
                        break;
                    }
                    p = q;
                }
                start = p.max(start_offset);
            }
            if t.flags & FLAG_RSTRIP != 0 {
                while stop < s.len() {
                    let (c, len) = decode(s, stop);
                    if !ws.contains(c) {
                        break;
                    }
                    stop += len;
                }
            }
            if start_offset < start {
                out.push((start_offset, start, None));
            }
            out.push((start, stop, Some(t.id)));
            start_offset = stop;
            pos = stop;
        }
        if start_offset < s.len() {
            out.push((start_offset, s.len(), None));
        }
    }
}

fn prev_char(s: &[u8], mut p: usize) -> usize {
    p -= 1;
    while p > 0 && s[p] & 0xC0 == 0x80 {
        p -= 1;
    }
    p
}

/// Reads the loader's binary spec: u32 little-endian numbers and length-prefixed UTF-8 strings.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Result<u32, String> {
        if self.pos + 4 > self.b.len() {
            return Err("tokenizer spec truncated".into());
        }
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.b[self.pos..self.pos + 4]);
        self.pos += 4;
        Ok(u32::from_le_bytes(a))
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        if self.pos + n > self.b.len() {
            return Err("tokenizer spec truncated".into());
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn str(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "tokenizer spec: invalid UTF-8".to_string())
    }
}

/// GPT-2's bytes_to_unicode inverted: `table[c]` is the byte character `c` stands for, or -1.
fn byte_level_table() -> [i16; 324] {
    let mut table = [-1i16; 324];
    let mut next = 256;
    for b in 0..256usize {
        let printable = (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        if printable {
            table[b] = b as i16;
        } else {
            table[next] = b as i16;
            next += 1;
        }
    }
    table
}

pub struct Tokenizer {
    normalizers: Vec<Norm>,
    classes: Classes,
    steps: Vec<Step>,
    model: Model,
    decoders: Vec<Dec>,
    added_raw: AddedMatcher,
    added_normalized: AddedMatcher,
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    white_space: CharSet,
    numeric: CharSet,
    /// Token string → id: the added tokens, then the model's (HF looks them up in that order).
    token_ids: FxMap<String, u32>,
    /// Id → token string (an added token's content wins over the model's token).
    id_tokens: Vec<Option<String>>,
    special: Vec<bool>,
    /// The ids of the last encode.
    pub out: Vec<u32>,
    norm_buf: Vec<u8>,
    norm_tmp: Vec<u8>,
    pieces: Vec<(usize, usize, Option<u32>)>,
    pieces2: Vec<(usize, usize, Option<u32>)>,
    splits: Vec<(usize, usize)>,
    next_splits: Vec<(usize, usize)>,
    matches: Vec<(usize, usize)>,
    word_buf: Vec<u8>,
}

fn behavior(n: u32) -> Result<Behavior, String> {
    Ok(match n {
        0 => Behavior::Removed,
        1 => Behavior::Isolated,
        2 => Behavior::MergedWithPrevious,
        3 => Behavior::MergedWithNext,
        4 => Behavior::Contiguous,
        _ => return Err(format!("tokenizer spec: unknown split behavior {}", n)),
    })
}

fn read_norm(r: &mut Reader) -> Result<Norm, String> {
    Ok(match r.u32()? {
        1 => Norm::Form(Form::Nfc),
        2 => Norm::Form(Form::Nfd),
        3 => Norm::Form(Form::Nfkc),
        4 => Norm::Form(Form::Nfkd),
        5 => {
            let literal = r.u32()? == 1;
            let pattern = r.str()?;
            Norm::Replace { pattern: Pattern::new(literal, pattern)?, content: r.bytes()?.to_vec(), matches: Vec::new() }
        }
        6 => Norm::Prepend(r.bytes()?.to_vec()),
        7 => Norm::Lowercase,
        8 => Norm::StripAccents,
        9 => Norm::Bert {
            clean_text: r.u32()? == 1,
            chinese_chars: r.u32()? == 1,
            strip_accents: r.u32()? == 1,
            lowercase: r.u32()? == 1,
        },
        k => return Err(format!("tokenizer spec: unknown normalizer kind {}", k)),
    })
}

fn one_char(s: &str, what: &str) -> Result<char, String> {
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(format!("{}: expected one character, got {:?}", what, s)),
    }
}

fn read_dec(r: &mut Reader) -> Result<Dec, String> {
    Ok(match r.u32()? {
        1 => Dec::ByteLevel,
        2 => Dec::Replace { pattern: r.str()?.to_string(), content: r.str()?.to_string() },
        3 => Dec::ByteFallback,
        4 => Dec::Fuse,
        5 => Dec::Strip { content: one_char(r.str()?, "decoder Strip.content")?, start: r.u32()? as usize, stop: r.u32()? as usize },
        6 => Dec::Metaspace { replacement: one_char(r.str()?, "decoder Metaspace.replacement")?, prepend: r.u32()? != 2 },
        7 => Dec::WordPiece { prefix: r.str()?.to_string(), cleanup: r.u32()? == 1 },
        k => return Err(format!("tokenizer spec: unknown decoder kind {}", k)),
    })
}

/// The model's settings from the spec; its vocabulary comes from the document.
enum ModelSpec {
    Bpe { byte_level: bool, ignore_merges: bool, byte_fallback: bool, fuse_unk: bool, unk: Option<String> },
    Unigram { unk_id: Option<u32>, byte_fallback: bool },
    WordPiece { unk: String, prefix: String, max_chars: usize },
}

fn read_opt_str(r: &mut Reader) -> Result<Option<String>, String> {
    let has = r.u32()? == 1;
    let s = r.str()?.to_string();
    Ok(if has { Some(s) } else { None })
}

fn read_model_spec(r: &mut Reader) -> Result<ModelSpec, String> {
    Ok(match r.u32()? {
        1 => ModelSpec::Bpe {
            byte_level: r.u32()? == 1,
            ignore_merges: r.u32()? == 1,
            byte_fallback: r.u32()? == 1,
            fuse_unk: r.u32()? == 1,
            unk: read_opt_str(r)?,
        },
        2 => {
            let has = r.u32()? == 1;
            let id = r.u32()?;
            ModelSpec::Unigram { unk_id: if has { Some(id) } else { None }, byte_fallback: r.u32()? == 1 }
        }
        3 => ModelSpec::WordPiece { unk: r.str()?.to_string(), prefix: r.str()?.to_string(), max_chars: r.u32()? as usize },
        k => return Err(format!("tokenizer spec: unknown model kind {}", k)),
    })
}

/// Added tokens as (id, content as given, flags); the matched content is set by the caller.
fn read_added(r: &mut Reader) -> Result<Vec<Added>, String> {
    let n = r.u32()?;
    let mut v = Vec::with_capacity(n.min(1 << 20) as usize);
    for _ in 0..n {
        let id = r.u32()?;
        let original = r.str()?.to_string();
        let content = original.as_bytes().to_vec();
        let flags = r.u32()?;
        if id >= 1 << 31 {
            return Err(format!("added token {:?}: id {} is too large", original, id));
        }
        v.push(Added { content, original, id, flags });
    }
    Ok(v)
}

fn read_ids(r: &mut Reader) -> Result<Vec<u32>, String> {
    let n = r.u32()?;
    (0..n).map(|_| r.u32()).collect()
}

fn vocab_error(path: &str, what: &str) -> String {
    format!("{}: {}", path, what)
}

fn model_mut(doc: &mut Value) -> Result<&mut Value, String> {
    doc.get_mut("model").ok_or_else(|| "model: missing".to_string())
}

/// A `{token: id}` vocabulary (BPE, WordPiece): (token, id) pairs and the token → id map. Two tokens
/// with one id are refused (decoding could not tell them apart).
fn vocab_object(doc: &mut Value) -> Result<(Vec<(String, u32)>, FxMap<String, u32>), String> {
    let vocab = match model_mut(doc)?.take("vocab") {
        Some(Value::Obj(v)) => v,
        _ => return Err("model.vocab: expected an object of token → id".into()),
    };
    let mut pairs = Vec::with_capacity(vocab.len());
    let mut ids: FxMap<String, u32> = FxMap::default();
    ids.reserve(vocab.len());
    let mut owner: FxMap<u32, usize> = FxMap::default();
    owner.reserve(vocab.len());
    for (token, id) in vocab {
        let id = match id {
            Value::Num(n) if n.fract() == 0.0 && (0.0..2147483648.0).contains(&n) => n as u32,
            _ => return Err(vocab_error(&format!("model.vocab.{:?}", token), "expected a token id")),
        };
        if let Some(&i) = owner.get(&id) {
            let first: &(String, u32) = &pairs[i];
            return Err(vocab_error(&format!("model.vocab.{:?}", token), &format!("id {} is also the id of {:?}", id, first.0)));
        }
        owner.insert(id, pairs.len());
        ids.insert(token.clone(), id);
        pairs.push((token, id));
    }
    Ok((pairs, ids))
}

/// The merges as (left id, right id, merged id), in rank order.
fn bpe_merges(doc: &mut Value, ids: &FxMap<String, u32>) -> Result<Vec<(u32, u32, u32)>, String> {
    let merges = match model_mut(doc)?.take("merges") {
        Some(Value::Arr(v)) => v,
        _ => return Err("model.merges: expected an array".into()),
    };
    let mut out = Vec::with_capacity(merges.len());
    let mut joined = String::new();
    for (i, m) in merges.iter().enumerate() {
        let (a, b): (&str, &str) = match m {
            Value::Str(s) => {
                let mut it = s.splitn(3, ' ');
                match (it.next(), it.next(), it.next()) {
                    (Some(a), Some(b), None) if !a.is_empty() => (a, b),
                    _ => return Err(vocab_error(&format!("model.merges.{}", i), "expected \"a b\" or [\"a\", \"b\"]")),
                }
            }
            Value::Arr(v) => match v.as_slice() {
                [Value::Str(a), Value::Str(b)] => (a.as_str(), b.as_str()),
                _ => return Err(vocab_error(&format!("model.merges.{}", i), "expected \"a b\" or [\"a\", \"b\"]")),
            },
            _ => return Err(vocab_error(&format!("model.merges.{}", i), "expected \"a b\" or [\"a\", \"b\"]")),
        };
        joined.clear();
        joined.push_str(a);
        joined.push_str(b);
        match (ids.get(a), ids.get(b), ids.get(joined.as_str())) {
            (Some(&x), Some(&y), Some(&z)) => out.push((x, y, z)),
            _ => {
                return Err(vocab_error(
                    &format!("model.merges.{}", i),
                    &format!("[{:?}, {:?}] uses a token not in the vocabulary", a, b),
                ))
            }
        }
    }
    Ok(out)
}

/// A Unigram vocabulary: `[[piece, score], ...]`, ids by position.
fn unigram_vocab(doc: &mut Value) -> Result<Vec<(String, f64)>, String> {
    let vocab = match model_mut(doc)?.take("vocab") {
        Some(Value::Arr(v)) => v,
        _ => return Err("model.vocab: expected an array of [piece, score]".into()),
    };
    let mut out = Vec::with_capacity(vocab.len());
    for (i, entry) in vocab.into_iter().enumerate() {
        match entry {
            Value::Arr(v) => match <[Value; 2]>::try_from(v) {
                Ok([Value::Str(piece), Value::Num(score)]) if score.is_finite() => out.push((piece, score)),
                _ => return Err(vocab_error(&format!("model.vocab.{}", i), "expected [piece, score]")),
            },
            _ => return Err(vocab_error(&format!("model.vocab.{}", i), "expected [piece, score]")),
        }
    }
    Ok(out)
}

const FLAG_SPECIAL: u32 = 1 << 16;

impl Tokenizer {
    /// Builds a tokenizer from the loader's spec (the validated configuration) and the parsed
    /// tokenizer.json (its model's vocabulary and merges, taken out of `doc`).
    pub fn new(spec: &[u8], doc: &mut Value) -> Result<Tokenizer, String> {
        let mut r = Reader { b: spec, pos: 0 };
        let mut normalizers = (0..r.u32()?).map(|_| read_norm(&mut r)).collect::<Result<Vec<_>, _>>()?;
        let nsteps = r.u32()?;
        let mut steps = Vec::new();
        for _ in 0..nsteps {
            steps.push(match r.u32()? {
                1 => {
                    let literal = r.u32()? == 1;
                    let pattern = r.str()?;
                    let behavior = behavior(r.u32()?)?;
                    let invert = r.u32()? == 1;
                    Step::Split { pattern: Pattern::new(literal, pattern)?, behavior, invert }
                }
                2 => {
                    let add_prefix_space = r.u32()? == 1;
                    let use_regex = r.u32()? == 1;
                    Step::ByteLevel {
                        add_prefix_space,
                        regex: if use_regex { Some(Regex::new(GPT2_PATTERN)?) } else { None },
                    }
                }
                3 => Step::Digits { individual: r.u32()? == 1 },
                4 => {
                    let replacement = one_char(r.str()?, "pre-tokenizer Metaspace.replacement")?;
                    let prepend = match r.u32()? {
                        0 => Prepend::Always,
                        1 => Prepend::First,
                        _ => Prepend::Never,
                    };
                    let mut b = [0u8; 4];
                    Step::Metaspace { replacement: replacement.encode_utf8(&mut b).as_bytes().to_vec(), prepend, split: r.u32()? == 1 }
                }
                5 => Step::Bert,
                6 => Step::WhitespaceSplit,
                k => return Err(format!("tokenizer spec: unknown pre-tokenizer kind {}", k)),
            });
        }
        let model_spec = read_model_spec(&mut r)?;
        let decoders = (0..r.u32()?).map(|_| read_dec(&mut r)).collect::<Result<Vec<_>, _>>()?;
        let added_raw = read_added(&mut r)?;
        let mut added_normalized = read_added(&mut r)?;
        let prefix = read_ids(&mut r)?;
        let suffix = read_ids(&mut r)?;
        if r.pos != spec.len() {
            return Err("tokenizer spec: trailing bytes".into());
        }

        let classes = Classes::new();
        // A normalized added token is matched in its normalized form (HF runs the whole normalizer on it).
        let mut tmp = Vec::new();
        for t in added_normalized.iter_mut() {
            crate::normalizers::apply(&mut normalizers, &classes, &mut t.content, &mut tmp)?;
        }

        let table = byte_level_table();
        let (pairs, mut token_ids, model) = match model_spec {
            ModelSpec::Bpe { byte_level, ignore_merges, byte_fallback, fuse_unk, unk } => {
                let (pairs, ids) = vocab_object(doc)?;
                let merges = bpe_merges(doc, &ids)?;
                let unk = match unk {
                    Some(u) => match ids.get(&u) {
                        Some(&id) => Some(id),
                        None => return Err(format!("model.unk_token: {:?} is not in the vocabulary", u)),
                    },
                    None => None,
                };
                let mut vocab: FxMap<Vec<u8>, u32> = FxMap::default();
                vocab.reserve(pairs.len());
                let mut bytes = Vec::new();
                for (token, id) in &pairs {
                    if !byte_level {
                        vocab.insert(token.as_bytes().to_vec(), *id);
                        continue;
                    }
                    bytes.clear();
                    // A token outside the byte-level alphabet can never be produced from bytes: not in
                    // the BPE table (it still decodes).
                    let mappable = token.chars().all(|c| match crate::decoders::byte_level_byte(c, &table) {
                        Some(b) => {
                            bytes.push(b);
                            true
                        }
                        None => false,
                    });
                    if mappable && !bytes.is_empty() {
                        vocab.insert(bytes.clone(), *id);
                    }
                }
                let bpe = Bpe::new(vocab, &merges, Options { byte_level, ignore_merges, byte_fallback, fuse_unk, unk });
                if byte_level && unk.is_some() && !bpe.has_every_byte() {
                    return Err("model.unk_token: an unk token with bytes missing from the vocabulary is not supported".into());
                }
                (pairs, ids, Model::Bpe(bpe))
            }
            ModelSpec::Unigram { unk_id, byte_fallback } => {
                let pieces = unigram_vocab(doc)?;
                let mut ids: FxMap<String, u32> = FxMap::default();
                let pairs: Vec<(String, u32)> = pieces.iter().enumerate().map(|(i, p)| (p.0.clone(), i as u32)).collect();
                for (t, id) in &pairs {
                    ids.insert(t.clone(), *id);
                }
                (pairs, ids, Model::Unigram(Unigram::new(pieces, unk_id, byte_fallback)?, WordMap::cache()))
            }
            ModelSpec::WordPiece { unk, prefix, max_chars } => {
                let (pairs, ids) = vocab_object(doc)?;
                let vocab: FxMap<Vec<u8>, u32> = pairs.iter().map(|(t, id)| (t.as_bytes().to_vec(), *id)).collect();
                let unk = ids.get(&unk).copied();
                (pairs, ids, Model::WordPiece(WordPiece::new(vocab, &prefix, max_chars, unk), WordMap::cache()))
            }
        };

        let mut max_id = pairs.iter().map(|p| p.1 as i64).max().unwrap_or(-1);
        for t in added_raw.iter().chain(added_normalized.iter()) {
            max_id = max_id.max(t.id as i64);
        }
        // Ids far past the number of tokens would only allocate a table of holes.
        let count = (pairs.len() + added_raw.len() + added_normalized.len()) as i64;
        if max_id >= 2 * count + (1 << 20) {
            return Err(format!("model.vocab: id {} is far past the {} tokens (a table of holes)", max_id, count));
        }
        let mut id_tokens: Vec<Option<String>> = vec![None; (max_id + 1) as usize];
        for (token, id) in pairs {
            id_tokens[id as usize] = Some(token);
        }
        let mut special = vec![false; id_tokens.len()];
        for t in added_raw.iter().chain(added_normalized.iter()) {
            // The content as given (the normalized matcher holds its normalized form).
            id_tokens[t.id as usize] = Some(t.original.clone());
            token_ids.insert(t.original.clone(), t.id);
            special[t.id as usize] = t.flags & FLAG_SPECIAL != 0;
        }
        for &id in prefix.iter().chain(suffix.iter()) {
            if id as usize >= id_tokens.len() {
                return Err(format!("post_processor: special token id {} is past the vocabulary", id));
            }
        }
        Ok(Tokenizer {
            normalizers,
            classes,
            steps,
            model,
            decoders,
            added_raw: AddedMatcher::new(added_raw),
            added_normalized: AddedMatcher::new(added_normalized),
            prefix,
            suffix,
            white_space: CharSet::new(&white_space()),
            numeric: CharSet::new(&category_ranges(&["N"])),
            token_ids,
            id_tokens,
            special,
            out: Vec::new(),
            norm_buf: Vec::new(),
            norm_tmp: tmp,
            pieces: Vec::new(),
            pieces2: Vec::new(),
            splits: Vec::new(),
            next_splits: Vec::new(),
            matches: Vec::new(),
            word_buf: Vec::new(),
        })
    }

    /// HF's decode: the ids' token strings, special ones left out when asked, through the decoder
    /// chain. An id with no token (past the vocabulary, or in a hole of it) is dropped, as HF does: a
    /// model's embedding is often padded past its tokenizer (Qwen3: 151,936 rows, 151,669 tokens).
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, String> {
        let mut tokens = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(Some(t)) = self.id_tokens.get(id as usize) {
                if !(skip_special_tokens && self.special[id as usize]) {
                    tokens.push(t.clone());
                }
            }
        }
        Ok(crate::decoders::decode(&self.decoders, tokens, &byte_level_table()))
    }
    pub fn vocab_size(&self) -> usize {
        self.id_tokens.len()
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.token_ids.get(token).copied()
    }

    /// What decoding needs, for the loader: [n][offsets: n + 1][special: n bytes, padded to 4][bytes],
    /// numbers u32 LE. An id's bytes are its byte-level characters mapped back, or the token's UTF-8
    /// when one is outside the alphabet (HF's ByteLevel decoder).
    pub fn decode_table(&self, out: &mut Vec<u8>) {
        let table = byte_level_table();
        let n = self.id_tokens.len();
        let mut bytes: Vec<u8> = Vec::new();
        let mut offsets: Vec<u32> = Vec::with_capacity(n + 1);
        for t in &self.id_tokens {
            offsets.push(bytes.len() as u32);
            if let Some(t) = t {
                let start = bytes.len();
                for c in t.chars() {
                    match table.get(c as usize) {
                        Some(&b) if b >= 0 => bytes.push(b as u8),
                        _ => {
                            bytes.truncate(start);
                            bytes.extend_from_slice(t.as_bytes());
                            break;
                        }
                    }
                }
            }
        }
        offsets.push(bytes.len() as u32);
        out.clear();
        out.extend_from_slice(&(n as u32).to_le_bytes());
        for o in offsets {
            out.extend_from_slice(&o.to_le_bytes());
        }
        out.extend(self.special.iter().map(|&s| s as u8));
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(&bytes);
    }

    /// Every id's token string, for the loader: [n][UTF-16 offsets: n + 1][present: n bytes, padded to
    /// 4][UTF-8 of the concatenation].
    pub fn token_strings(&self, out: &mut Vec<u8>) {
        let n = self.id_tokens.len();
        let mut text = String::new();
        let mut offsets: Vec<u32> = Vec::with_capacity(n + 1);
        let mut units = 0u32;
        for t in &self.id_tokens {
            offsets.push(units);
            if let Some(t) = t {
                text.push_str(t);
                units += t.chars().map(|c| c.len_utf16() as u32).sum::<u32>();
            }
        }
        offsets.push(units);
        out.clear();
        out.extend_from_slice(&(n as u32).to_le_bytes());
        for o in offsets {
            out.extend_from_slice(&o.to_le_bytes());
        }
        out.extend(self.id_tokens.iter().map(|t| t.is_some() as u8));
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(text.as_bytes());
    }

    /// Encodes valid UTF-8 `text` into `self.out`.
    pub fn encode(&mut self, text: &[u8], add_special_tokens: bool) -> Result<(), String> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        if add_special_tokens {
            out.extend_from_slice(&self.prefix);
        }
        let mut pieces = std::mem::take(&mut self.pieces);
        pieces.clear();
        self.added_raw.split(text, &self.white_space, &mut pieces);
        let result = self.encode_pieces(text, &pieces, &mut out);
        self.pieces = pieces;
        if add_special_tokens {
            out.extend_from_slice(&self.suffix);
        }
        self.out = out;
        result
    }

    fn encode_pieces(&mut self, text: &[u8], pieces: &[(usize, usize, Option<u32>)], out: &mut Vec<u32>) -> Result<(), String> {
        for &(a, b, id) in pieces {
            if let Some(id) = id {
                out.push(id);
                continue;
            }
            let mut normalized = std::mem::take(&mut self.norm_buf);
            normalized.clear();
            normalized.extend_from_slice(&text[a..b]);
            let mut result = crate::normalizers::apply(&mut self.normalizers, &self.classes, &mut normalized, &mut self.norm_tmp);
            let mut pieces2 = std::mem::take(&mut self.pieces2);
            pieces2.clear();
            if result.is_ok() {
                self.added_normalized.split(&normalized, &self.white_space, &mut pieces2);
            }
            for &(c, d, id2) in &pieces2 {
                match id2 {
                    Some(id) => out.push(id),
                    // Metaspace's `first` scheme prepends only to the text at the very start.
                    None => result = self.pre_tokenize_and_encode(&normalized[c..d], a == 0 && c == 0, out),
                }
                if result.is_err() {
                    break;
                }
            }
            self.pieces2 = pieces2;
            self.norm_buf = normalized;
            result?;
        }
        Ok(())
    }

    fn pre_tokenize_and_encode(&mut self, s: &[u8], at_start: bool, out: &mut Vec<u32>) -> Result<(), String> {
        if s.is_empty() {
            return Ok(());
        }
        // Splits are byte ranges of `word_buf`, which a ByteLevel prefix space or Metaspace may rebuild.
        let mut buf = std::mem::take(&mut self.word_buf);
        buf.clear();
        buf.extend_from_slice(s);
        let mut splits = std::mem::take(&mut self.splits);
        splits.clear();
        splits.push((0, buf.len()));
        let mut next = std::mem::take(&mut self.next_splits);
        let mut matches = std::mem::take(&mut self.matches);
        for step in self.steps.iter_mut() {
            next.clear();
            match step {
                Step::Split { pattern, behavior, invert } => {
                    for &(a, b) in &splits {
                        matches.clear();
                        pattern.find_all(&buf[a..b], &mut matches);
                        apply_behavior(a, b, &matches, *behavior, *invert, &mut next);
                    }
                }
                Step::ByteLevel { add_prefix_space, regex } => {
                    if *add_prefix_space && splits.iter().any(|&(a, _)| buf[a] != b' ') {
                        let mut rebuilt = Vec::with_capacity(buf.len() + splits.len());
                        let mut moved = Vec::with_capacity(splits.len());
                        for &(a, b) in &splits {
                            let start = rebuilt.len();
                            if buf[a] != b' ' {
                                rebuilt.push(b' ');
                            }
                            rebuilt.extend_from_slice(&buf[a..b]);
                            moved.push((start, rebuilt.len()));
                        }
                        buf = rebuilt;
                        splits = moved;
                    }
                    match regex {
                        Some(regex) => {
                            for &(a, b) in &splits {
                                matches.clear();
                                regex.find_all(&buf[a..b], &mut matches);
                                apply_behavior(a, b, &matches, Behavior::Isolated, false, &mut next);
                            }
                        }
                        None => next.extend_from_slice(&splits),
                    }
                }
                Step::Digits { individual } => {
                    for &(a, b) in &splits {
                        matches.clear();
                        let mut p = a;
                        while p < b {
                            let (c, len) = decode(&buf, p);
                            if self.numeric.contains(c) {
                                matches.push((p - a, p - a + len));
                            }
                            p += len;
                        }
                        let behavior = if *individual { Behavior::Isolated } else { Behavior::Contiguous };
                        apply_behavior(a, b, &matches, behavior, false, &mut next);
                    }
                }
                Step::Metaspace { replacement, prepend, split } => {
                    // Spaces become the replacement, which (by the scheme) starts the text; each
                    // replacement then starts a word.
                    let mut rebuilt = Vec::with_capacity(buf.len() * 2 + 3 * splits.len());
                    let mut moved = Vec::with_capacity(splits.len());
                    for &(a, b) in &splits {
                        let start = rebuilt.len();
                        let starts_with = buf[a] == b' ' || buf[a..b].starts_with(replacement);
                        let first = at_start && a == 0;
                        if !starts_with && (*prepend == Prepend::Always || (*prepend == Prepend::First && first)) {
                            rebuilt.extend_from_slice(replacement);
                        }
                        for &c in &buf[a..b] {
                            if c == b' ' {
                                rebuilt.extend_from_slice(replacement);
                            } else {
                                rebuilt.push(c);
                            }
                        }
                        moved.push((start, rebuilt.len()));
                    }
                    buf = rebuilt;
                    splits = moved;
                    if !*split {
                        next.extend_from_slice(&splits);
                    } else {
                        // MergedWithNext on the replacements: a piece starts at each.
                        for &(a, b) in &splits {
                            let (mut start, mut p) = (a, a);
                            while let Some(k) = buf[p..b].iter().position(|&x| x == replacement[0]) {
                                p += k;
                                if crate::regex::starts_with(&buf[p..b], replacement) {
                                    if start < p {
                                        next.push((start, p));
                                    }
                                    start = p;
                                    p += replacement.len();
                                } else {
                                    p += 1;
                                }
                            }
                            if start < b {
                                next.push((start, b));
                            }
                        }
                    }
                }
                Step::Bert | Step::WhitespaceSplit => {
                    let punctuation = matches!(step, Step::Bert);
                    for &(a, b) in &splits {
                        let mut word = a;
                        let mut p = a;
                        while p < b {
                            let (c, len) = decode(&buf, p);
                            if is_white_space(c) {
                                if word < p {
                                    next.push((word, p));
                                }
                                word = p + len;
                            } else if punctuation && self.classes.punctuation.contains(c) {
                                if word < p {
                                    next.push((word, p));
                                }
                                next.push((p, p + len));
                                word = p + len;
                            }
                            p += len;
                        }
                        if word < b {
                            next.push((word, b));
                        }
                    }
                }
            }
            std::mem::swap(&mut splits, &mut next);
        }
        let mut result = Ok(());
        for &(a, b) in &splits {
            result = self.model.encode_word(&buf[a..b], out);
            if result.is_err() {
                break;
            }
        }
        self.word_buf = buf;
        self.splits = splits;
        self.next_splits = next;
        self.matches = matches;
        result
    }
}

/// HF's `NormalizedString::split`: turns the matches within [a, b) (offsets relative to a) into the
/// pieces a behavior keeps, dropping empty ones.
fn apply_behavior(a: usize, b: usize, m: &[(usize, usize)], behavior: Behavior, invert: bool, out: &mut Vec<(usize, usize)>) {
    if behavior == Behavior::Isolated {
        // Every match and every gap, in order: the common case, without the list below.
        let mut prev = a;
        for &(s, e) in m {
            let (s, e) = (a + s, a + e);
            if prev < s {
                out.push((prev, s));
            }
            if s < e {
                out.push((s, e));
            }
            prev = e;
        }
        if prev < b {
            out.push((prev, b));
        }
        return;
    }
    // (start, end, is_match) covering [a, b)
    let mut all: Vec<(usize, usize, bool)> = Vec::with_capacity(2 * m.len() + 1);
    let mut prev = a;
    for &(s, e) in m {
        let (s, e) = (a + s, a + e);
        if prev != s {
            all.push((prev, s, invert));
        }
        all.push((s, e, !invert));
        prev = e;
    }
    if prev != b {
        all.push((prev, b, invert));
    }
    let start_len = out.len();
    match behavior {
        Behavior::Isolated => out.extend(all.iter().map(|&(s, e, _)| (s, e))),
        Behavior::Removed => out.extend(all.iter().filter(|x| !x.2).map(|&(s, e, _)| (s, e))),
        Behavior::MergedWithPrevious => {
            let mut previous_match = false;
            for &(s, e, is_match) in &all {
                if is_match && !previous_match && out.len() > start_len {
                    if let Some(last) = out.last_mut() {
                        last.1 = e;
                    }
                } else {
                    out.push((s, e));
                }
                previous_match = is_match;
            }
        }
        Behavior::MergedWithNext => {
            let mut previous_match = false;
            let mut rev: Vec<(usize, usize)> = Vec::new();
            for &(s, e, is_match) in all.iter().rev() {
                if is_match && !previous_match && !rev.is_empty() {
                    if let Some(last) = rev.last_mut() {
                        last.0 = s;
                    }
                } else {
                    rev.push((s, e));
                }
                previous_match = is_match;
            }
            out.extend(rev.into_iter().rev());
        }
        Behavior::Contiguous => {
            let mut previous_match = false;
            for &(s, e, is_match) in &all {
                if is_match == previous_match && out.len() > start_len {
                    if let Some(last) = out.last_mut() {
                        last.1 = e;
                    }
                } else {
                    out.push((s, e));
                }
                previous_match = is_match;
            }
        }
    }
    let mut k = start_len;
    for i in start_len..out.len() {
        if out[i].0 != out[i].1 {
            out[k] = out[i];
            k += 1;
        }
    }
    out.truncate(k);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `DYN_TOKENIZER_JSON=path cargo test --release -- --ignored --nocapture load_time`
    #[test]
    #[ignore]
    fn load_time() {
        let path = std::env::var("DYN_TOKENIZER_JSON").unwrap_or_default();
        let bytes = std::fs::read(path).unwrap();
        let t = std::time::Instant::now();
        let mut doc = crate::json::parse(&bytes).unwrap();
        eprintln!("parse {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let (pairs, ids) = vocab_object(&mut doc).unwrap();
        let merges = bpe_merges(&mut doc, &ids).unwrap();
        eprintln!("vocab and merges {:?} {} {}", t.elapsed(), pairs.len(), merges.len());
        let t = std::time::Instant::now();
        let mut vocab: FxMap<Vec<u8>, u32> = FxMap::default();
        for (tok, id) in &pairs {
            vocab.insert(tok.as_bytes().to_vec(), *id);
        }
        let opts = Options { byte_level: true, ignore_merges: false, byte_fallback: false, fuse_unk: false, unk: None };
        let _bpe = Bpe::new(vocab, &merges, opts);
        eprintln!("bpe {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let _r = Regex::new(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+").unwrap();
        let _n = CharSet::new(&category_ranges(&["N"]));
        eprintln!("regex {:?}", t.elapsed());
    }

    /// `DYN_TOKENIZER_JSON=llama3.json DYN_SPEC=spec.bin DYN_CORPUS=corpus.txt cargo test --release --
    /// --ignored --nocapture encode_speed` (a spec and corpus dumped by the loader and the benchmark).
    #[test]
    #[ignore]
    fn encode_speed() {
        let env = |k: &str| std::env::var(k).unwrap_or_default();
        let mut doc = crate::json::parse(&std::fs::read(env("DYN_TOKENIZER_JSON")).unwrap()).unwrap();
        let mut t = Tokenizer::new(&std::fs::read(env("DYN_SPEC")).unwrap(), &mut doc).unwrap();
        let corpus = std::fs::read_to_string(env("DYN_CORPUS")).unwrap();
        let mut prompts = Vec::new();
        let mut start = 0;
        for (i, _) in corpus.char_indices() {
            if i - start >= 4096 {
                prompts.push(&corpus[start..i]);
                start = i;
            }
        }
        for round in 0..5 {
            let t0 = std::time::Instant::now();
            let mut n = 0;
            for p in &prompts {
                t.encode(p.as_bytes(), false).unwrap();
                n += t.out.len();
            }
            let s = t0.elapsed().as_secs_f64();
            eprintln!("round {} {:.1} MB/s {} tokens", round, corpus.len() as f64 / s / 1e6, n);
        }
    }
}

