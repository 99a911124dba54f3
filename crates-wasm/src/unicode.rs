//! Character classification over the generated UCD 16.0 tables (see gen/unicode_tables.py).

use crate::unicode_tables::{CATEGORIES, GC_RUNS, WHITE_SPACE};

/// Index of `Cn` (unassigned) in `CATEGORIES`.
const CN: u8 = 29;

/// Sorted, merged inclusive ranges of code points.
pub type Ranges = Vec<(u32, u32)>;

/// Code points whose general category is one of `names` (two-letter names, or one letter for a group).
pub fn category_ranges(names: &[&str]) -> Ranges {
    let wanted: Vec<bool> = CATEGORIES
        .iter()
        .map(|c| names.iter().any(|n| *n == *c || (n.len() == 1 && c.starts_with(n))))
        .collect();
    let mut r: Ranges = Vec::new();
    if wanted[CN as usize] {
        let assigned: Ranges = normalize(GC_RUNS.iter().map(|&(lo, hi, _)| (lo, hi)).collect());
        r.extend(complement(&assigned));
    }
    for &(lo, hi, c) in GC_RUNS {
        if wanted[c as usize] {
            r.push((lo, hi));
        }
    }
    normalize(r)
}

pub fn white_space() -> Ranges {
    WHITE_SPACE.to_vec()
}

/// Sorts and merges overlapping or adjacent ranges.
pub fn normalize(mut r: Ranges) -> Ranges {
    r.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// The complement of normalized ranges within 0..=0x10FFFF.
pub fn complement(r: &[(u32, u32)]) -> Ranges {
    let mut out = Vec::with_capacity(r.len() + 1);
    let mut next = 0u32;
    for &(lo, hi) in r {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    if next <= 0x10FFFF {
        out.push((next, 0x10FFFF));
    }
    out
}

/// Decodes the UTF-8 char at `i` of valid UTF-8 `s`: (code point, byte length).
#[inline(always)]
pub fn decode(s: &[u8], i: usize) -> (u32, usize) {
    let b0 = s[i] as u32;
    if b0 < 0x80 {
        (b0, 1)
    } else if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | (s[i + 1] as u32 & 0x3F), 2)
    } else if b0 < 0xF0 {
        (((b0 & 0x0F) << 12) | ((s[i + 1] as u32 & 0x3F) << 6) | (s[i + 2] as u32 & 0x3F), 3)
    } else {
        (
            ((b0 & 0x07) << 18)
                | ((s[i + 1] as u32 & 0x3F) << 12)
                | ((s[i + 2] as u32 & 0x3F) << 6)
                | (s[i + 3] as u32 & 0x3F),
            4,
        )
    }
}

/// A set of code points with O(1) membership for the BMP (a bitmap) and binary search above it.
pub struct CharSet {
    bmp: Vec<u64>,
    astral: Ranges,
}

impl CharSet {
    pub fn new(ranges: &[(u32, u32)]) -> CharSet {
        let mut bmp = vec![0u64; 1024];
        let mut astral = Vec::new();
        for &(lo, hi) in ranges {
            let mut c = lo;
            while c <= hi.min(0xFFFF) {
                bmp[(c >> 6) as usize] |= 1 << (c & 63);
                c += 1;
            }
            if hi > 0xFFFF {
                astral.push((lo.max(0x10000), hi));
            }
        }
        CharSet { bmp, astral }
    }

    #[inline(always)]
    pub fn contains(&self, c: u32) -> bool {
        if c <= 0xFFFF {
            self.bmp[(c >> 6) as usize] & (1 << (c & 63)) != 0
        } else {
            self.astral
                .binary_search_by(|&(lo, hi)| {
                    if hi < c {
                        std::cmp::Ordering::Less
                    } else if lo > c {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .is_ok()
        }
    }
}
