//! The encode pipeline of a byte-level BPE tokenizer.json, as HuggingFace tokenizers runs it:
//!
//!   text ─ added tokens (not normalized) ─ normalizer ─ added tokens (normalized) ─ pre-tokenizer
//!        ─ byte-level BPE per word ─ post-processor template (BOS/EOS) when special tokens are added
//!
//! The loader (src/wasm/tokenizer.ts) parses and validates the JSON and hands this module a compact
//! binary spec (`Spec::read`); everything not supported was refused there or is refused here.

use crate::bpe::{Bpe, FxMap};
use crate::json::Value;
use crate::regex::Regex;
use crate::unicode::{category_ranges, decode, needs_nfc_check, white_space, CharSet};

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

enum Step {
    Split { regex: Regex, behavior: Behavior, invert: bool },
    ByteLevel { add_prefix_space: bool, regex: Option<Regex> },
    Digits { individual: bool },
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
/// match kind); candidates indexed by first byte, longest first.
struct AddedMatcher {
    tokens: Vec<Added>,
    by_first: Vec<Vec<u32>>,
}

impl AddedMatcher {
    fn new(mut tokens: Vec<Added>) -> AddedMatcher {
        tokens.retain(|t| !t.content.is_empty());
        let mut by_first = vec![Vec::new(); 256];
        for (i, t) in tokens.iter().enumerate() {
            by_first[t.content[0] as usize].push(i as u32);
        }
        for v in by_first.iter_mut() {
            // Longest first; for equal contents the earlier token wins (stable sort).
            v.sort_by_key(|&i| Reverse(tokens[i as usize].content.len()));
        }
        AddedMatcher { tokens, by_first }
    }

    /// Splits `s` into pieces: Some(id) for a matched token, None for text between.
    fn split(&self, s: &[u8], ws: &CharSet, out: &mut Vec<(usize, usize, Option<u32>)>) {
        let mut start_offset = 0;
        let mut pos = 0;
        while pos < s.len() {
            let cands = &self.by_first[s[pos] as usize];
            let found = cands.iter().map(|&i| &self.tokens[i as usize]).find(|t| s[pos..].starts_with(&t.content));
            let t = match found {
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

use std::cmp::Reverse;

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

/// GPT-2's split, used by a ByteLevel pre-tokenizer with `use_regex: true`.
const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

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
    normalizers: Vec<Form>,
    steps: Vec<Step>,
    bpe: Bpe,
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

fn form(n: u32) -> Result<Form, String> {
    Ok(match n {
        1 => Form::Nfc,
        2 => Form::Nfd,
        3 => Form::Nfkc,
        4 => Form::Nfkd,
        _ => return Err(format!("tokenizer spec: unknown normalization form {}", n)),
    })
}

fn read_added(r: &mut Reader) -> Result<Vec<Added>, String> {
    let n = r.u32()?;
    let mut v = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let id = r.u32()?;
        let original = r.str()?.to_string();
        let content = r.bytes()?.to_vec();
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

/// The model's vocabulary and merges from the parsed tokenizer.json: (token, id) pairs and the merges
/// as (left id, right id, merged id), in rank order.
fn read_model(doc: &mut Value) -> Result<(Vec<(String, u32)>, Vec<(u32, u32, u32)>, FxMap<String, u32>), String> {
    let model = match doc.get_mut("model") {
        Some(m) => m,
        None => return Err("model: missing".into()),
    };
    let vocab = match model.take("vocab") {
        Some(Value::Obj(v)) => v,
        _ => return Err("model.vocab: expected an object of token → id".into()),
    };
    let mut pairs = Vec::with_capacity(vocab.len());
    let mut ids: FxMap<String, u32> = FxMap::default();
    ids.reserve(vocab.len());
    for (token, id) in vocab {
        let id = match id {
            Value::Num(n) if n.fract() == 0.0 && (0.0..2147483648.0).contains(&n) => n as u32,
            _ => return Err(vocab_error(&format!("model.vocab.{:?}", token), "expected a token id")),
        };
        ids.insert(token.clone(), id);
        pairs.push((token, id));
    }
    let merges = match model.take("merges") {
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
    Ok((pairs, out, ids))
}

const FLAG_SPECIAL: u32 = 1 << 16;

impl Tokenizer {
    /// Builds a tokenizer from the loader's spec (the validated configuration) and the parsed
    /// tokenizer.json (its model's vocabulary and merges, taken out of `doc`).
    pub fn new(spec: &[u8], doc: &mut Value) -> Result<Tokenizer, String> {
        let mut r = Reader { b: spec, pos: 0 };
        let normalizers = (0..r.u32()?).map(|_| r.u32().and_then(form)).collect::<Result<Vec<_>, _>>()?;
        let nsteps = r.u32()?;
        let mut steps = Vec::new();
        for _ in 0..nsteps {
            steps.push(match r.u32()? {
                1 => {
                    let literal = r.u32()? == 1;
                    let pattern = r.str()?;
                    let behavior = behavior(r.u32()?)?;
                    let invert = r.u32()? == 1;
                    let source = if literal { escape(pattern) } else { pattern.to_string() };
                    Step::Split { regex: Regex::new(&source)?, behavior, invert }
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
                k => return Err(format!("tokenizer spec: unknown pre-tokenizer kind {}", k)),
            });
        }
        let ignore_merges = r.u32()? == 1;
        let has_unk = r.u32()? == 1;
        let added_raw = read_added(&mut r)?;
        let added_normalized = read_added(&mut r)?;
        let prefix = read_ids(&mut r)?;
        let suffix = read_ids(&mut r)?;
        if r.pos != spec.len() {
            return Err("tokenizer spec: trailing bytes".into());
        }

        let (pairs, merges, mut token_ids) = read_model(doc)?;
        let table = byte_level_table();
        let mut vocab: FxMap<Vec<u8>, u32> = FxMap::default();
        vocab.reserve(pairs.len());
        let mut bytes = Vec::new();
        let mut max_id = pairs.iter().map(|p| p.1 as i64).max().unwrap_or(-1);
        for t in added_raw.iter().chain(added_normalized.iter()) {
            max_id = max_id.max(t.id as i64);
        }
        let mut id_tokens: Vec<Option<String>> = vec![None; (max_id + 1) as usize];
        for (token, id) in pairs {
            bytes.clear();
            // A token outside the byte-level alphabet can never be produced from bytes: not in the
            // BPE table (it still decodes).
            let mappable = token.chars().all(|c| match table.get(c as usize) {
                Some(&b) if b >= 0 => {
                    bytes.push(b as u8);
                    true
                }
                _ => false,
            });
            if mappable && !bytes.is_empty() {
                vocab.insert(bytes.clone(), id);
            }
            id_tokens[id as usize] = Some(token);
        }
        let mut special = vec![false; id_tokens.len()];
        for t in added_raw.iter().chain(added_normalized.iter()) {
            // The content as given (the normalized matcher holds its normalized form).
            id_tokens[t.id as usize] = Some(t.original.clone());
            token_ids.insert(t.original.clone(), t.id);
            special[t.id as usize] = t.flags & FLAG_SPECIAL != 0;
        }
        let bpe = Bpe::new(vocab, &merges, ignore_merges);
        if has_unk && !bpe.has_every_byte() {
            return Err("model.unk_token: an unk token with bytes missing from the vocabulary is not supported".into());
        }
        Ok(Tokenizer {
            normalizers,
            steps,
            bpe,
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
            pieces: Vec::new(),
            pieces2: Vec::new(),
            splits: Vec::new(),
            next_splits: Vec::new(),
            matches: Vec::new(),
            word_buf: Vec::new(),
        })
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
        let mut result = Ok(());
        for &(a, b, id) in &pieces {
            if let Some(id) = id {
                out.push(id);
                continue;
            }
            let normalized = match self.normalize(&text[a..b]) {
                Ok(n) => n,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let mut pieces2 = std::mem::take(&mut self.pieces2);
            pieces2.clear();
            self.added_normalized.split(&normalized, &self.white_space, &mut pieces2);
            for &(c, d, id2) in &pieces2 {
                match id2 {
                    Some(id) => out.push(id),
                    None => self.pre_tokenize_and_encode(&normalized[c..d], &mut out),
                }
            }
            self.pieces2 = pieces2;
            self.norm_buf = normalized;
        }
        self.pieces = pieces;
        if add_special_tokens {
            out.extend_from_slice(&self.suffix);
        }
        self.out = out;
        result
    }

    /// The normalized form of `s`, in a buffer owned by the caller until handed back.
    fn normalize(&mut self, s: &[u8]) -> Result<Vec<u8>, String> {
        let mut buf = std::mem::take(&mut self.norm_buf);
        buf.clear();
        buf.extend_from_slice(s);
        for &f in &self.normalizers {
            if quick_check(&buf, f) {
                continue;
            }
            buf = crate::host::normalize(f, &buf)?;
        }
        Ok(buf)
    }

    fn pre_tokenize_and_encode(&mut self, s: &[u8], out: &mut Vec<u32>) {
        if s.is_empty() {
            return;
        }
        // Splits are byte ranges of `word_buf`, which a ByteLevel prefix space may rebuild.
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
                Step::Split { regex, behavior, invert } => {
                    for &(a, b) in &splits {
                        matches.clear();
                        regex.find_all(&buf[a..b], &mut matches);
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
            }
            std::mem::swap(&mut splits, &mut next);
        }
        for &(a, b) in &splits {
            self.bpe.encode_word(&buf[a..b], out);
        }
        self.word_buf = buf;
        self.splits = splits;
        self.next_splits = next;
        self.matches = matches;
    }
}

/// HF's `NormalizedString::split`: turns the matches within [a, b) (offsets relative to a) into the
/// pieces a behavior keeps, dropping empty ones.
fn apply_behavior(a: usize, b: usize, m: &[(usize, usize)], behavior: Behavior, invert: bool, out: &mut Vec<(usize, usize)>) {
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

/// Whether `s` is certainly unchanged by `form` (so the host need not be called).
fn quick_check(s: &[u8], form: Form) -> bool {
    match form {
        Form::Nfc => {
            let mut i = 0;
            while i < s.len() {
                if s[i] < 0xCC {
                    // Below U+0300 nothing changes under NFC.
                    i += if s[i] < 0x80 { 1 } else { 2 };
                    continue;
                }
                let (c, len) = decode(s, i);
                if needs_nfc_check(c) {
                    return false;
                }
                i += len;
            }
            true
        }
        _ => s.is_ascii(),
    }
}

/// A literal pattern as a regex.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if c.is_ascii_punctuation() || c == ' ' {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
        let (pairs, merges, _ids) = read_model(&mut doc).unwrap();
        eprintln!("read_model {:?} {} {}", t.elapsed(), pairs.len(), merges.len());
        let t = std::time::Instant::now();
        let mut vocab: FxMap<Vec<u8>, u32> = FxMap::default();
        for (tok, id) in &pairs {
            vocab.insert(tok.as_bytes().to_vec(), *id);
        }
        let _bpe = Bpe::new(vocab, &merges, false);
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
