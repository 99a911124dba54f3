//! The normalizers of a tokenizer.json, applied in order to each piece of text between added tokens:
//! the Unicode forms (through the host: V8's ICU), `Replace`, `Prepend`, `Lowercase`, `StripAccents`
//! and BERT's `BertNormalizer`, each as HuggingFace tokenizers runs it.

use crate::bert_tables::{NONSPACING, OTHER, PUNCTUATION};
use crate::hf_unicode9::ASSIGNED_AFTER_9;
use crate::regex::Pattern;
use crate::tokenizer::Form;
use crate::unicode::{category_ranges, decode, CharSet};
use crate::unicode_tables::NFC_CHECK;

pub enum Norm {
    Form(Form),
    /// A literal or regex pattern, every non-overlapping match replaced by `content`.
    /// (`matches`: scratch for the pattern's matches.)
    Replace { pattern: Pattern, content: Vec<u8>, matches: Vec<(usize, usize)> },
    Prepend(Vec<u8>),
    Lowercase,
    StripAccents,
    Bert { clean_text: bool, chinese_chars: bool, strip_accents: bool, lowercase: bool },
}

/// The character classes the normalizers and BERT's pre-tokenizer need, built once per tokenizer.
pub struct Classes {
    /// What BERT's `clean_text` removes (tab, newline and carriage return excepted).
    pub other: CharSet,
    /// What BERT's accent stripping removes after NFD.
    pub nonspacing: CharSet,
    /// BERT's punctuation, with ASCII punctuation.
    pub punctuation: CharSet,
    /// M*: what the StripAccents normalizer removes.
    pub marks: CharSet,
    /// Assigned after Unicode 9.0: left alone by normalization.
    pub after_9: CharSet,
    /// What may fail the NFC quick check.
    pub nfc_check: CharSet,
}

impl Classes {
    pub fn new() -> Classes {
        let mut punctuation = PUNCTUATION.to_vec();
        for c in 0u32..128 {
            if (c as u8).is_ascii_punctuation() {
                punctuation.push((c, c));
            }
        }
        Classes {
            other: CharSet::new(OTHER),
            nonspacing: CharSet::new(NONSPACING),
            punctuation: CharSet::new(&crate::unicode::normalize(punctuation)),
            marks: CharSet::new(&category_ranges(&["M"])),
            after_9: CharSet::new(ASSIGNED_AFTER_9),
            nfc_check: CharSet::new(NFC_CHECK),
        }
    }
}

/// BERT's CJK ideograph blocks (the ones `handle_chinese_chars` pads with spaces).
pub fn is_chinese_char(c: u32) -> bool {
    matches!(c, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// Rust's `char::is_whitespace` (the White_Space property), which BERT's classes use.
pub fn is_white_space(c: u32) -> bool {
    char::from_u32(c).map_or(false, char::is_whitespace)
}

/// Applies `norms` to `buf` (valid UTF-8), using `tmp` as scratch.
pub fn apply(norms: &mut [Norm], classes: &Classes, buf: &mut Vec<u8>, tmp: &mut Vec<u8>) -> Result<(), String> {
    for n in norms.iter_mut() {
        match n {
            Norm::Form(f) => {
                if !quick_check(buf, *f, classes) {
                    normalize(*f, classes, buf, tmp)?;
                }
                continue;
            }
            Norm::Prepend(p) => {
                if buf.is_empty() {
                    continue;
                }
                tmp.clear();
                tmp.extend_from_slice(p);
                tmp.extend_from_slice(buf);
            }
            Norm::Replace { pattern, content, matches } => {
                matches.clear();
                pattern.find_all(buf, matches);
                if matches.is_empty() {
                    continue;
                }
                tmp.clear();
                let mut at = 0;
                for &(a, b) in matches.iter() {
                    tmp.extend_from_slice(&buf[at..a]);
                    tmp.extend_from_slice(content);
                    at = b;
                }
                tmp.extend_from_slice(&buf[at..]);
            }
            Norm::Lowercase => {
                if !lowercase(buf, tmp) {
                    continue;
                }
            }
            Norm::StripAccents => {
                // HF's StripAccents removes the combining marks (a preceding NFD splits them off).
                if !rewrite(buf, tmp, |c| if classes.marks.contains(c) { DROP } else { Edit::Keep }) {
                    continue;
                }
            }
            Norm::Bert { clean_text, chinese_chars, strip_accents, lowercase: lower } => {
                if *clean_text && buf.is_ascii() {
                    // The same rules on ASCII, in place.
                    let control = |c: u8| (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r')) || c == 0x7F;
                    if buf.iter().any(|&c| control(c)) {
                        buf.retain(|&c| !control(c));
                    }
                    for c in buf.iter_mut().filter(|c| matches!(**c, b'\t' | b'\n' | b'\r')) {
                        *c = b' ';
                    }
                } else if (*clean_text || *chinese_chars)
                    // clean_text, then CJK chars spaced, in one pass.
                    && rewrite(buf, tmp, |c| {
                        let space = Edit::Put([' ', ' ', ' '], 1);
                        if *clean_text {
                            match c {
                                0 | 0xFFFD => return DROP,
                                9 | 10 | 13 => return space,
                                c if classes.other.contains(c) => return DROP,
                                c if is_white_space(c) => return space,
                                _ => {}
                            }
                        }
                        match char::from_u32(c) {
                            Some(ch) if *chinese_chars && is_chinese_char(c) => Edit::Put([' ', ch, ' '], 3),
                            _ => Edit::Keep,
                        }
                    })
                {
                    std::mem::swap(buf, tmp);
                }
                if *strip_accents && !buf.is_ascii() {
                    normalize(Form::Nfd, classes, buf, tmp)?;
                    // The accents stripped, then lowercase, in one pass (per char, the same output).
                    if rewrite(buf, tmp, |c| match c {
                        c if classes.nonspacing.contains(c) => DROP,
                        c if *lower => lower_char(c),
                        _ => Edit::Keep,
                    }) {
                        std::mem::swap(buf, tmp);
                    }
                } else if *lower && buf.is_ascii() {
                    buf.make_ascii_lowercase();
                } else if *lower && lowercase(buf, tmp) {
                    std::mem::swap(buf, tmp);
                }
                continue;
            }
        }
        std::mem::swap(buf, tmp);
    }
    Ok(())
}

/// Normalizes `buf` to `form` through the host, as HF's Unicode 9.0 tables would: a character assigned
/// since (unknown to them: no decomposition, a starter) is kept as it is, the text around it
/// normalized on its own.
fn normalize(form: Form, classes: &Classes, buf: &mut Vec<u8>, tmp: &mut Vec<u8>) -> Result<(), String> {
    let mut i = 0;
    let mut start = 0;
    tmp.clear();
    while i < buf.len() {
        let (c, len) = decode(buf, i);
        if c >= 0x560 && classes.after_9.contains(c) {
            if start < i {
                tmp.extend_from_slice(&crate::host::normalize(form, &buf[start..i])?);
            }
            tmp.extend_from_slice(&buf[i..i + len]);
            start = i + len;
        }
        i += len;
    }
    if start == 0 {
        *buf = crate::host::normalize(form, buf)?;
        return Ok(());
    }
    if start < buf.len() {
        tmp.extend_from_slice(&crate::host::normalize(form, &buf[start..])?);
    }
    std::mem::swap(buf, tmp);
    Ok(())
}

/// What a rewrite makes of a char: itself, or the first `n` of some chars (none: dropped).
enum Edit {
    Keep,
    Put([char; 3], usize),
}

const DROP: Edit = Edit::Put([' ', ' ', ' '], 0);

/// Writes `buf` with each char rewritten by `f` to `out`; returns whether anything changed.
fn rewrite(buf: &[u8], out: &mut Vec<u8>, mut f: impl FnMut(u32) -> Edit) -> bool {
    out.clear();
    // Runs of kept chars are copied whole (a copy per char would call memcpy per char).
    let mut b = [0u8; 4];
    let (mut i, mut kept) = (0, 0);
    while i < buf.len() {
        let (c, len) = decode(buf, i);
        if let Edit::Put(chars, n) = f(c) {
            out.extend_from_slice(&buf[kept..i]);
            for ch in &chars[..n] {
                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
            }
            kept = i + len;
        }
        i += len;
    }
    let changed = kept > 0;
    out.extend_from_slice(&buf[kept..]);
    changed
}

/// Rust's `to_lowercase` of one char (at most three).
fn lower_char(c: u32) -> Edit {
    if c < 0x80 {
        let b = c as u8;
        return if b.is_ascii_uppercase() { Edit::Put([b.to_ascii_lowercase() as char, ' ', ' '], 1) } else { Edit::Keep };
    }
    let ch = match char::from_u32(c) {
        Some(ch) => ch,
        None => return Edit::Keep,
    };
    let mut lower = ch.to_lowercase();
    if lower.len() == 1 && lower.clone().next() == Some(ch) {
        return Edit::Keep;
    }
    let mut put = [' '; 3];
    let mut n = 0;
    for (slot, l) in put.iter_mut().zip(&mut lower) {
        *slot = l;
        n += 1;
    }
    Edit::Put(put, n)
}

/// Rust's per-char `to_lowercase` (what HF's Lowercase does) into `out`; whether anything changed.
fn lowercase(buf: &[u8], out: &mut Vec<u8>) -> bool {
    if buf.is_ascii() {
        if !buf.iter().any(u8::is_ascii_uppercase) {
            return false;
        }
        out.clear();
        out.extend(buf.iter().map(u8::to_ascii_lowercase));
        return true;
    }
    rewrite(buf, out, lower_char)
}

/// Whether `s` is certainly unchanged by `form` (so the host need not be called).
pub fn quick_check(s: &[u8], form: Form, classes: &Classes) -> bool {
    match form {
        Form::Nfc => {
            let mut i = 0;
            while i < s.len() {
                if let Some(w) = s.get(i..i + 8) {
                    // Eight ASCII bytes at a time.
                    let mut a = [0u8; 8];
                    a.copy_from_slice(w);
                    if u64::from_le_bytes(a) & 0x8080_8080_8080_8080 == 0 {
                        i += 8;
                        continue;
                    }
                }
                if s[i] < 0xCC {
                    // Below U+0300 nothing changes under NFC.
                    i += if s[i] < 0x80 { 1 } else { 2 };
                    continue;
                }
                let (c, len) = decode(s, i);
                if classes.nfc_check.contains(c) {
                    return false;
                }
                i += len;
            }
            true
        }
        _ => s.is_ascii(),
    }
}
