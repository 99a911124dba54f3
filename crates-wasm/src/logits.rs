//! Kernels over a row of logits, the per-token work of sampling: one pass over the vocabulary (152k
//! floats for Qwen3, 600 KB) per sequence per step, memory-bound once a step's rows outgrow the cache.
//!
//! argmax reads the row once: the max of each block of `BLOCK` floats (SIMD128: four accumulators of
//! four lanes), remembering the first block that raised the running max; only that block, still in L1,
//! is read again for the first index holding the max. The grammar variant works over the ids an
//! XGrammar bitmask allows (bit `i % 32` of word `i / 32` set), as if the refused ones were −∞.

/// Floats per block: 4 KB, so the winning block is re-read from L1.
const BLOCK: usize = 1024;

/// Index of the first largest value of `row` (0 for an empty row). NaN never wins; a row of −∞ and NaN
/// only gives its first −∞ (0 if none), as a max pass then a search for the max would.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = f32::NEG_INFINITY;
    let mut at = None;
    for (b, block) in row.chunks(BLOCK).enumerate() {
        let m = max(block);
        if m > best {
            best = m;
            at = Some(b);
        }
    }
    match at {
        Some(b) => b * BLOCK + row[b * BLOCK..].iter().position(|&x| x == best).unwrap_or(0),
        None => row.iter().position(|&x| x == f32::NEG_INFINITY).unwrap_or(0),
    }
}

/// argmax of `row` with the ids `mask` refuses (and those past it) counted as −∞, without writing them:
/// the same index as `apply_mask` then `argmax`. One pass, a word (32 ids) at a time: a word the mask
/// refuses whole is not read; any other is read with SIMD and its allowed ids are looked at one by one
/// only when its largest value beats the best so far (rarely, once the best is high).
pub fn masked_argmax(row: &[f32], mask: &[u32]) -> usize {
    let mut best = Best::new();
    for (w, chunk) in row.chunks(32).enumerate() {
        let bits = mask.get(w).copied().unwrap_or(0);
        if bits != 0 && best.may_rise(chunk) {
            let mut allowed = bits;
            while allowed != 0 {
                let i = allowed.trailing_zeros() as usize;
                if let Some(&x) = chunk.get(i) {
                    best.offer(x, 32 * w + i);
                }
                allowed &= allowed - 1;
            }
        }
    }
    best.at.unwrap_or_else(|| {
        // Nothing above −∞: the masked row's first −∞ (a refused id, or an allowed −∞), as argmax gives.
        let refused = |i: usize| mask.get(i / 32).map_or(true, |w| (w >> (i % 32)) & 1 == 0);
        (0..row.len()).find(|&i| refused(i) || row[i] == f32::NEG_INFINITY).unwrap_or(0)
    })
}

/// The running maximum of a scan in index order: strictly larger values only (the first of equal
/// maxima stays; NaN never wins).
struct Best {
    value: f32,
    at: Option<usize>,
    #[cfg(target_feature = "simd128")]
    splat: core::arch::wasm32::v128,
}

impl Best {
    fn new() -> Best {
        Best {
            value: f32::NEG_INFINITY,
            at: None,
            #[cfg(target_feature = "simd128")]
            splat: core::arch::wasm32::f32x4_splat(f32::NEG_INFINITY),
        }
    }

    fn offer(&mut self, x: f32, at: usize) {
        if x > self.value {
            self.value = x;
            self.at = Some(at);
            #[cfg(target_feature = "simd128")]
            {
                self.splat = core::arch::wasm32::f32x4_splat(x);
            }
        }
    }

    /// Whether some value of `chunk` (at most 32) is above the best: never false when one is.
    #[cfg(target_feature = "simd128")]
    fn may_rise(&self, chunk: &[f32]) -> bool {
        use core::arch::wasm32::*;
        if chunk.len() < 32 {
            return true;
        }
        let p = chunk.as_ptr();
        // SAFETY: the chunk holds 32 floats; v128_load has no alignment requirement.
        let l = |k: usize| unsafe { v128_load(p.add(4 * k) as *const v128) };
        // pmax(a, b) keeps a unless a < b: two chains started from the best ignore NaN.
        let b = self.splat;
        let even = f32x4_pmax(f32x4_pmax(f32x4_pmax(f32x4_pmax(b, l(0)), l(2)), l(4)), l(6));
        let odd = f32x4_pmax(f32x4_pmax(f32x4_pmax(f32x4_pmax(b, l(1)), l(3)), l(5)), l(7));
        v128_any_true(f32x4_gt(f32x4_pmax(even, odd), b))
    }

    #[cfg(not(target_feature = "simd128"))]
    fn may_rise(&self, _chunk: &[f32]) -> bool {
        true
    }
}

/// Sets the ids `mask` refuses (and those past it) to −∞.
pub fn apply_mask(row: &mut [f32], mask: &[u32]) {
    for (w, chunk) in row.chunks_mut(32).enumerate() {
        let bits = mask.get(w).copied().unwrap_or(0);
        if bits == u32::MAX {
            continue;
        }
        // Only the refused bits, lowest first (a string's mask refuses a few tokens per word).
        let mut refused = !bits;
        while refused != 0 {
            let i = refused.trailing_zeros() as usize;
            if let Some(x) = chunk.get_mut(i) {
                *x = f32::NEG_INFINITY;
            }
            refused &= refused - 1;
        }
    }
}

/// The largest value of `row` (-inf for an empty row or one of NaNs only).
#[cfg(target_feature = "simd128")]
pub fn max(row: &[f32]) -> f32 {
    use core::arch::wasm32::*;
    let wide = row.len() / 16 * 16;
    let p = row.as_ptr();
    let mut m = [f32x4_splat(f32::NEG_INFINITY); 4];
    let mut i = 0;
    while i < wide {
        // SAFETY: i + 16 <= row.len(); v128_load has no alignment requirement.
        unsafe {
            m[0] = f32x4_pmax(m[0], v128_load(p.add(i) as *const v128));
            m[1] = f32x4_pmax(m[1], v128_load(p.add(i + 4) as *const v128));
            m[2] = f32x4_pmax(m[2], v128_load(p.add(i + 8) as *const v128));
            m[3] = f32x4_pmax(m[3], v128_load(p.add(i + 12) as *const v128));
        }
        i += 16;
    }
    let v = f32x4_pmax(f32x4_pmax(m[0], m[1]), f32x4_pmax(m[2], m[3]));
    fold(horizontal(v), &row[wide..])
}

#[cfg(not(target_feature = "simd128"))]
pub fn max(row: &[f32]) -> f32 {
    fold(f32::NEG_INFINITY, row)
}

#[cfg(target_feature = "simd128")]
fn horizontal(v: core::arch::wasm32::v128) -> f32 {
    use core::arch::wasm32::*;
    let lanes = [
        f32x4_extract_lane::<0>(v),
        f32x4_extract_lane::<1>(v),
        f32x4_extract_lane::<2>(v),
        f32x4_extract_lane::<3>(v),
    ];
    fold(f32::NEG_INFINITY, &lanes)
}

/// `start` raised to each larger value of `xs` (NaN never raises it: pmax's rule).
fn fold(start: f32, xs: &[f32]) -> f32 {
    xs.iter().fold(start, |a, &x| if a < x { x } else { a })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: the max pass, then the first index holding it.
    fn reference(row: &[f32]) -> usize {
        let m = fold(f32::NEG_INFINITY, row);
        row.iter().position(|&x| x == m).unwrap_or(0)
    }

    #[test]
    fn first_of_equal_maxima_and_tails() {
        assert_eq!(argmax(&[]), 0);
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        let mut row = vec![0.5f32; 37];
        row[36] = 2.0;
        assert_eq!(argmax(&row), 36);
        row[20] = 2.0;
        assert_eq!(argmax(&row), 20);
        assert_eq!(argmax(&[f32::NAN, -1.0, f32::NAN]), 1);
        assert_eq!(argmax(&[f32::NAN, f32::NEG_INFINITY, f32::NEG_INFINITY]), 1);
        assert_eq!(argmax(&[f32::NAN, f32::NAN]), 0);
        assert_eq!(max(&[-3.0, -2.0]), -2.0);
        let mut long = vec![1.0f32; 3 * BLOCK + 5];
        long[BLOCK + 7] = 4.0;
        long[2 * BLOCK + 1] = 4.0;
        assert_eq!(argmax(&long), reference(&long));
    }

    #[test]
    fn masked_equals_apply_then_argmax() {
        let mut row: Vec<f32> = (0..2 * BLOCK + 45).map(|i| ((i * 7919) % 1000) as f32).collect();
        let mask: Vec<u32> = (0..(row.len() + 31) / 32 - 1).map(|w| [0, !0, 0x0F0F_0F0F, 1 << 31][w % 4]).collect();
        let mut applied = row.clone();
        apply_mask(&mut applied, &mask);
        assert_eq!(masked_argmax(&row, &mask), reference(&applied));
        // Nothing allowed: the first refused id, as the masked row's first −∞.
        assert_eq!(masked_argmax(&row, &[]), 0);
        row[0] = f32::NAN;
        assert_eq!(masked_argmax(&row, &[1]), 1);
    }
}
