//! Kernels over a row of logits, the per-token work of greedy sampling: one pass over the vocabulary
//! (152k floats for Qwen3) per sequence per step. With SIMD128 four lanes of four floats each are
//! compared per iteration; plain JavaScript manages about one float per nanosecond.

/// Index of the first largest value of `row` (0 for an empty row). NaN never wins.
pub fn argmax(row: &[f32]) -> usize {
    let max = max(row);
    // The first index holding the maximum: found with the same wide loads, then within its group.
    let start = first_group_with(row, max);
    row[start..].iter().position(|&x| x == max).map_or(0, |i| start + i)
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
    let lanes = [
        f32x4_extract_lane::<0>(v),
        f32x4_extract_lane::<1>(v),
        f32x4_extract_lane::<2>(v),
        f32x4_extract_lane::<3>(v),
    ];
    lanes.iter().chain(&row[wide..]).fold(f32::NEG_INFINITY, |a, &x| if x > a { x } else { a })
}

#[cfg(not(target_feature = "simd128"))]
pub fn max(row: &[f32]) -> f32 {
    row.iter().fold(f32::NEG_INFINITY, |a, &x| if x > a { x } else { a })
}

#[cfg(target_feature = "simd128")]
fn first_group_with(row: &[f32], value: f32) -> usize {
    use core::arch::wasm32::*;
    let target = f32x4_splat(value);
    let p = row.as_ptr();
    let mut i = 0;
    while i + 4 <= row.len() {
        // SAFETY: i + 4 <= row.len().
        if v128_any_true(f32x4_eq(unsafe { v128_load(p.add(i) as *const v128) }, target)) {
            return i;
        }
        i += 4;
    }
    i
}

#[cfg(not(target_feature = "simd128"))]
fn first_group_with(_row: &[f32], _value: f32) -> usize {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(max(&[-3.0, -2.0]), -2.0);
    }
}
