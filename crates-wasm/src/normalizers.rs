//! The normalizers of a tokenizer.json, applied in order to each piece of text between added tokens:
//! the Unicode forms (through the host: V8's ICU), `Replace`, `Prepend`, `Lowercase`, `StripAccents`
//! and BERT's `BertNormalizer`, each as HuggingFace tokenizers runs it.

use crate::bert_tables::{NONSPACING, OTHER, PUNCTUATION};
use crate::hf_unicode9::ASSIGNED_AFTER_9;
use crate::regex::Pattern;
use crate::tokenizer::Form;
use crate::unicode::{category_ranges, decode, needs_nfc_check, CharSet};

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
                if !quick_check(buf, *f) {
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
                if !filter_map(buf, tmp, |c| if classes.marks.contains(c) { None } else { Some(c) }) {
                    continue;
                }
            }
            Norm::Bert { clean_text, chinese_chars, strip_accents, lowercase: lower } => {
                if *clean_text && buf.is_ascii() {
                    // The same rules on ASCII, a byte at a time.
                    tmp.clear();
                    tmp.extend(buf.iter().filter_map(|&c| match c {
                        b'\t' | b'\n' | b'\r' => Some(b' '),
                        0..=0x1F | 0x7F => None,
                        c => Some(c),
                    }));
                    std::mem::swap(buf, tmp);
                } else if *clean_text {
                    filter_map(buf, tmp, |c| match c {
                        0 | 0xFFFD => None,
                        9 | 10 | 13 => Some(32),
                        c if classes.other.contains(c) => None,
                        c if is_white_space(c) => Some(32),
                        c => Some(c),
                    });
                    std::mem::swap(buf, tmp);
                }
                if *chinese_chars && !buf.is_ascii() {
                    tmp.clear();
                    let mut i = 0;
                    while i < buf.len() {
                        let (c, len) = decode(buf, i);
                        if is_chinese_char(c) {
                            tmp.push(b' ');
                            tmp.extend_from_slice(&buf[i..i + len]);
                            tmp.push(b' ');
                        } else {
                            tmp.extend_from_slice(&buf[i..i + len]);
                        }
                        i += len;
                    }
                    std::mem::swap(buf, tmp);
                }
                if *strip_accents && !buf.is_ascii() {
                    normalize(Form::Nfd, classes, buf, tmp)?;
                    filter_map(buf, tmp, |c| if classes.nonspacing.contains(c) { None } else { Some(c) });
                    std::mem::swap(buf, tmp);
                }
                if *lower && lowercase(buf, tmp) {
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

/// Writes `buf` with each char mapped (or dropped) to `out`; returns whether anything changed.
fn filter_map(buf: &[u8], out: &mut Vec<u8>, mut f: impl FnMut(u32) -> Option<u32>) -> bool {
    out.clear();
    let mut changed = false;
    let mut i = 0;
    while i < buf.len() {
        let (c, len) = decode(buf, i);
        match f(c).and_then(char::from_u32) {
            Some(m) if m as u32 == c => out.extend_from_slice(&buf[i..i + len]),
            Some(m) => {
                changed = true;
                let mut b = [0u8; 4];
                out.extend_from_slice(m.encode_utf8(&mut b).as_bytes());
            }
            None => changed = true,
        }
        i += len;
    }
    changed
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
    out.clear();
    let s = match std::str::from_utf8(buf) {
        Ok(s) => s,
        Err(_) => return false,
    };
    let mut b = [0u8; 4];
    for c in s.chars() {
        for l in c.to_lowercase() {
            out.extend_from_slice(l.encode_utf8(&mut b).as_bytes());
        }
    }
    out != buf
}

/// Whether `s` is certainly unchanged by `form` (so the host need not be called).
pub fn quick_check(s: &[u8], form: Form) -> bool {
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
