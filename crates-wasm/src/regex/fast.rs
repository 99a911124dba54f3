//! Hand-coded matchers for the pre-tokenizer patterns most tokenizer.json files ship: GPT-2's, and
//! cl100k's as Llama 3 (`\p{N}{1,3}`) and Qwen 2/3 (`\p{N}`) write it. One is chosen only when the
//! pattern string is exactly one of these; it gives the matches the general engine gives (each
//! branch below is that engine's leftmost-first, backtracking outcome worked out by hand; the tests
//! here and test/unit/wasm/regex-fast.test.ts compare the two), without a program to interpret.

use crate::unicode::{category_ranges, decode, white_space, CharSet};

/// GPT-2's split (also what a ByteLevel pre-tokenizer with `use_regex: true` runs).
pub const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// cl100k's split, as Llama 3's tokenizer.json writes it.
const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The same with single digits, as Qwen 2 and 3 write it.
const QWEN2: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

// A char's class: \p{L}, \p{N} and \s (White_Space) are disjoint; "other" is none of them.
const LETTER: u8 = 1;
const NUMBER: u8 = 2;
const SPACE: u8 = 4;
/// \r or \n (also SPACE).
const NEWLINE: u8 = 8;
const OTHER: u8 = 0;

#[derive(Clone, Copy)]
enum Kind {
    Gpt2,
    Cl100k { max_digits: u32 },
}

pub struct Fast {
    kind: Kind,
    /// The class of each ASCII char (a fixed array: no bounds check), of each BMP code point; astral
    /// ones are looked up in the sets.
    ascii: [u8; 128],
    bmp: Vec<u8>,
    letter: CharSet,
    number: CharSet,
    space: CharSet,
}

impl Fast {
    /// The matcher for `src`, if it is one of the known patterns.
    pub fn new(src: &str) -> Option<Fast> {
        let kind = match src {
            GPT2 => Kind::Gpt2,
            LLAMA3 => Kind::Cl100k { max_digits: 3 },
            QWEN2 => Kind::Cl100k { max_digits: 1 },
            _ => return None,
        };
        // The sets the general engine builds for \p{L}, \p{N} and \s.
        let letter = CharSet::new(&category_ranges(&["L"]));
        let number = CharSet::new(&category_ranges(&["N"]));
        let space = CharSet::new(&white_space());
        let mut f = Fast { kind, ascii: [0; 128], bmp: Vec::new(), letter, number, space };
        f.bmp = (0..0x10000u32).map(|c| f.lookup(c)).collect();
        f.ascii.copy_from_slice(&f.bmp[..128]);
        Some(f)
    }

    fn lookup(&self, c: u32) -> u8 {
        if self.letter.contains(c) {
            LETTER
        } else if self.number.contains(c) {
            NUMBER
        } else if c == '\r' as u32 || c == '\n' as u32 {
            SPACE | NEWLINE
        } else if self.space.contains(c) {
            SPACE
        } else {
            OTHER
        }
    }

    /// The class and byte length of the char at `i` of valid UTF-8 `s`.
    #[inline(always)]
    fn at(&self, s: &[u8], i: usize) -> (u8, usize) {
        let b = s[i];
        if b < 0x80 {
            return (self.ascii[(b & 0x7F) as usize], 1);
        }
        let (c, len) = decode(s, i);
        (if c <= 0xFFFF { self.bmp[c as usize] } else { self.lookup(c) }, len)
    }

    /// The end of the run of chars from `i` whose class passes `keep`.
    #[inline(always)]
    fn skip(&self, s: &[u8], mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
        while i < s.len() {
            let (k, len) = self.at(s, i);
            if !keep(k) {
                break;
            }
            i += len;
        }
        i
    }

    /// Appends to `out` the (start, end) byte ranges of successive matches in valid UTF-8 `s`. Every
    /// char is a letter, a number, a space or other, and each has a branch: the matches tile `s`.
    pub fn find_all(&self, s: &[u8], out: &mut Vec<(usize, usize)>) {
        let mut pos = 0;
        while pos < s.len() {
            let end = match self.kind {
                Kind::Gpt2 => self.gpt2(s, pos),
                Kind::Cl100k { max_digits } => self.cl100k(s, pos, max_digits),
            };
            out.push((pos, end));
            pos = end;
        }
    }

    fn gpt2(&self, s: &[u8], pos: usize) -> usize {
        if s[pos] == b'\'' {
            if let Some(len) = contraction(&s[pos + 1..], false) {
                return pos + 1 + len;
            }
        }
        let (k0, len0) = self.at(s, pos);
        let p1 = pos + len0;
        // ` ?X+`: the class of what follows a space, which the optional space then takes.
        let k1 = if s[pos] == b' ' && p1 < s.len() { Some(self.at(s, p1).0) } else { None };
        for class in [LETTER, NUMBER] {
            if k1 == Some(class) || k0 == class {
                return self.skip(s, p1, |k| k == class);
            }
        }
        if k1 == Some(OTHER) || k0 == OTHER {
            return self.skip(s, p1, |k| k == OTHER);
        }
        self.spaces(s, pos, false)
    }

    fn cl100k(&self, s: &[u8], pos: usize, max_digits: u32) -> usize {
        if s[pos] == b'\'' {
            if let Some(len) = contraction(&s[pos + 1..], true) {
                return pos + 1 + len;
            }
        }
        let (k0, len0) = self.at(s, pos);
        let p1 = pos + len0;
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (k0 & (LETTER | NUMBER | NEWLINE) == 0 && p1 < s.len() && self.at(s, p1).0 == LETTER) || k0 == LETTER {
            return self.skip(s, p1, |k| k == LETTER);
        }
        // \p{N}{1,max}
        if k0 == NUMBER {
            let mut end = p1;
            for _ in 1..max_digits {
                if end >= s.len() {
                    break;
                }
                let (k, len) = self.at(s, end);
                if k != NUMBER {
                    break;
                }
                end += len;
            }
            return end;
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        if k0 == OTHER || (s[pos] == b' ' && p1 < s.len() && self.at(s, p1).0 == OTHER) {
            let mut end = self.skip(s, p1, |k| k == OTHER);
            while end < s.len() && (s[end] == b'\r' || s[end] == b'\n') {
                end += 1;
            }
            return end;
        }
        self.spaces(s, pos, true)
    }

    /// A match starting with white space at `pos`: `\s*[\r\n]+` (when `newlines`) ends after the
    /// last \r or \n of the run; `\s+(?!\S)` at the end of `s`, or one char short of the run's end
    /// when that leaves at least one; else `\s+` takes the run.
    fn spaces(&self, s: &[u8], pos: usize, newlines: bool) -> usize {
        let (mut end, mut last, mut count) = (pos, pos, 0);
        let mut after_newline = None;
        while end < s.len() {
            let (k, len) = self.at(s, end);
            if k & SPACE == 0 {
                break;
            }
            if k & NEWLINE != 0 {
                after_newline = Some(end + len);
            }
            last = end;
            end += len;
            count += 1;
        }
        match after_newline {
            Some(e) if newlines => e,
            _ if end == s.len() || count == 1 => end,
            _ => last,
        }
    }
}

/// The length of the contraction (`s t re ve m ll d`) at the start of `s`, which follows an
/// apostrophe; under (?i) a letter also matches its capital, and `s` the long s (U+017F), which
/// simple case folding maps to it.
fn contraction(s: &[u8], icase: bool) -> Option<usize> {
    let fold = |b: u8| if icase && b.is_ascii_alphabetic() { b | 0x20 } else { b };
    let next_is = |want: u8| s.get(1).map_or(false, |&b| fold(b) == want);
    match fold(*s.first()?) {
        b's' | b't' | b'm' | b'd' => Some(1),
        b'r' | b'v' if next_is(b'e') => Some(2),
        b'l' if next_is(b'l') => Some(2),
        0xC5 if icase && s.get(1) == Some(&0xBF) => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regex::Regex;

    #[test]
    fn same_matches_as_the_general_engine() {
        // Chars from every class and the edge cases of each branch, in random strings.
        let alphabet: Vec<char> = "aZ'sStTrReEvVmMlLdDkK\u{17F}\u{212A} \t\r\n\u{A0}\u{2028}\u{3000}09\u{663}\u{2167}½.,!-/\u{301}\u{900}é中\u{1F600}\u{10400}\u{1D7CE}\u{E0001}"
            .chars()
            .collect();
        for src in [GPT2, LLAMA3, QWEN2] {
            let fast = Fast::new(src).unwrap();
            // A group around the pattern matches the same and keeps it off the fast path.
            let mut general = Regex::new(&format!("(?:{})", src)).unwrap();
            assert!(general.fast.is_none());
            let mut seed = 12345u64;
            let mut next = || {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (seed >> 33) as usize
            };
            for _ in 0..20000 {
                let len = next() % 12;
                let s: String = (0..len).map(|_| alphabet[next() % alphabet.len()]).collect();
                let (mut want, mut got) = (Vec::new(), Vec::new());
                general.find_all(s.as_bytes(), &mut want);
                fast.find_all(s.as_bytes(), &mut got);
                assert_eq!(got, want, "{:?} on {:?}", src, s);
            }
        }
    }
}
