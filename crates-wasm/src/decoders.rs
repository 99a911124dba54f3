//! The decoder chain of a tokenizer.json, as HuggingFace tokenizers' `decode_chain` runs it: each step
//! maps the list of token strings to a new list, and the result is their concatenation.

pub enum Dec {
    ByteLevel,
    Replace { pattern: String, content: String },
    ByteFallback,
    Fuse,
    Strip { content: char, start: usize, stop: usize },
    /// `prepend`: the prepend scheme is not `never` (the first token loses its replacement chars).
    Metaspace { replacement: char, prepend: bool },
    WordPiece { prefix: String, cleanup: bool },
}

/// GPT-2's bytes_to_unicode inverted: the byte a char stands for, if it is in the alphabet.
pub fn byte_level_byte(c: char, table: &[i16; 324]) -> Option<u8> {
    match table.get(c as usize) {
        Some(&b) if b >= 0 => Some(b as u8),
        _ => None,
    }
}

/// Decodes the token strings through `chain`; without a decoder HF joins them with spaces.
pub fn decode(chain: &[Dec], mut tokens: Vec<String>, table: &[i16; 324]) -> String {
    if chain.is_empty() {
        return tokens.join(" ");
    }
    for step in chain {
        tokens = match step {
            Dec::ByteLevel => {
                let mut bytes = Vec::new();
                for t in &tokens {
                    let start = bytes.len();
                    for c in t.chars() {
                        match byte_level_byte(c, table) {
                            Some(b) => bytes.push(b),
                            None => {
                                bytes.truncate(start);
                                bytes.extend_from_slice(t.as_bytes());
                                break;
                            }
                        }
                    }
                }
                vec![String::from_utf8_lossy(&bytes).into_owned()]
            }
            Dec::Replace { pattern, content } => tokens.iter().map(|t| t.replace(pattern.as_str(), content)).collect(),
            Dec::ByteFallback => byte_fallback(tokens),
            Dec::Fuse => vec![tokens.concat()],
            Dec::Strip { content, start, stop } => tokens.iter().map(|t| strip(t, *content, *start, *stop)).collect(),
            Dec::Metaspace { replacement, prepend } => tokens
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    t.chars()
                        .filter_map(|c| match c {
                            c if c == *replacement && i == 0 && *prepend => None,
                            c if c == *replacement => Some(' '),
                            c => Some(c),
                        })
                        .collect()
                })
                .collect(),
            Dec::WordPiece { prefix, cleanup } => tokens
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let t = match (i, t.strip_prefix(prefix.as_str())) {
                        (0, _) => t.clone(),
                        (_, Some(rest)) => rest.to_string(),
                        (_, None) => format!(" {}", t),
                    };
                    if *cleanup {
                        clean_up(&t)
                    } else {
                        t
                    }
                })
                .collect(),
        };
    }
    tokens.concat()
}

/// The byte of a `<0xNN>` token.
fn fallback_byte(t: &str) -> Option<u8> {
    if t.len() == 6 && t.starts_with("<0x") && t.ends_with('>') {
        u8::from_str_radix(&t[3..5], 16).ok()
    } else {
        None
    }
}

/// Runs of `<0xNN>` tokens become their UTF-8 text, or one U+FFFD per byte when it is not valid UTF-8.
fn byte_fallback(tokens: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut run: Vec<u8> = Vec::new();
    let flush = |run: &mut Vec<u8>, out: &mut Vec<String>| {
        if run.is_empty() {
            return;
        }
        match std::str::from_utf8(run) {
            Ok(s) => out.push(s.to_string()),
            Err(_) => out.extend(std::iter::repeat("\u{FFFD}".to_string()).take(run.len())),
        }
        run.clear();
    };
    for t in tokens {
        match fallback_byte(&t) {
            Some(b) => run.push(b),
            None => {
                flush(&mut run, &mut out);
                out.push(t);
            }
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Removes up to `start` leading and `stop` trailing `content` chars.
fn strip(t: &str, content: char, start: usize, stop: usize) -> String {
    let chars: Vec<char> = t.chars().collect();
    let mut a = 0;
    while a < start.min(chars.len()) && chars[a] == content {
        a += 1;
    }
    let mut b = chars.len();
    while chars.len() - b < stop && b > a && chars[b - 1] == content {
        b -= 1;
    }
    chars[a..b].iter().collect()
}

/// WordPiece's clean-up of tokenization spaces, within one token.
fn clean_up(t: &str) -> String {
    t.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" do not", " don't")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}
