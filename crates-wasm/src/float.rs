//! JSON numbers to f64 exactly as serde_json (without its `float_roundtrip` feature) computes them,
//! which is how HuggingFace tokenizers reads a tokenizer.json: the decimal digits are gathered into a
//! u64 (digits past its range dropped), converted to f64, then multiplied or divided by a power of ten.
//! That can be an ulp off the correctly rounded value, and a Unigram model's Viterbi ties are decided
//! by such ulps, so the crate's parser uses this.

/// The value of JSON number `text`, or None when it is not one.
pub fn parse(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let mut i = 0;
    let positive = b.first() != Some(&b'-');
    if !positive {
        i += 1;
    }
    let digit = |i: usize| b.get(i).filter(|c| c.is_ascii_digit()).map(|c| (c - b'0') as u64);
    let mut significand: u64 = digit(i)?;
    i += 1;
    let mut exponent: i32 = 0;
    let mut overflowed = false;
    if significand == 0 {
        if digit(i).is_some() {
            return None; // a leading zero
        }
    } else {
        while let Some(d) = digit(i) {
            if overflowed || overflows(significand, d) {
                // An integer part past u64: its further digits only scale it.
                overflowed = true;
                exponent += 1;
            } else {
                significand = significand * 10 + d;
            }
            i += 1;
        }
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        digit(i)?;
        // Decimals are taken while they fit (checked afresh after a long integer part), then dropped.
        let mut full = false;
        while let Some(d) = digit(i) {
            full = full || overflows(significand, d);
            if !full {
                significand = significand * 10 + d;
                exponent -= 1;
            }
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'e') | Some(b'E')) {
        i += 1;
        let positive_exp = match b.get(i) {
            Some(b'-') => {
                i += 1;
                false
            }
            Some(b'+') => {
                i += 1;
                true
            }
            _ => true,
        };
        let mut exp: i32 = digit(i)? as i32;
        i += 1;
        while let Some(d) = digit(i) {
            let d = d as i32;
            if exp >= i32::MAX / 10 && (exp > i32::MAX / 10 || d > i32::MAX % 10) {
                // serde_json: zero, or infinity (an error), or zero for a huge negative exponent.
                return if significand == 0 || !positive_exp { Some(if positive { 0.0 } else { -0.0 }) } else { None };
            }
            exp = exp * 10 + d;
            i += 1;
        }
        exponent = if positive_exp { exponent.saturating_add(exp) } else { exponent.saturating_sub(exp) };
    }
    if i != b.len() {
        return None;
    }
    from_parts(positive, significand, exponent)
}

fn overflows(significand: u64, digit: u64) -> bool {
    significand >= u64::MAX / 10 && (significand > u64::MAX / 10 || digit > u64::MAX % 10)
}

/// 10^e, correctly rounded (as the literal `1e<e>` is).
fn pow10(e: i32) -> f64 {
    if e <= 22 {
        // Exact: every power up to 10^22 is a double, so are the products on the way.
        10f64.powi(e)
    } else {
        format!("1e{}", e).parse().unwrap_or(f64::INFINITY)
    }
}

fn from_parts(positive: bool, significand: u64, mut exponent: i32) -> Option<f64> {
    let mut f = significand as f64;
    loop {
        let e = exponent.wrapping_abs();
        if (0..=308).contains(&e) {
            if exponent >= 0 {
                f *= pow10(e);
                if f.is_infinite() {
                    return None;
                }
            } else {
                f /= pow10(e);
            }
            break;
        }
        if f == 0.0 {
            break;
        }
        if exponent >= 0 {
            return None;
        }
        f /= 1e308;
        exponent += 308;
    }
    Some(if positive { f } else { -f })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn numbers() {
        assert_eq!(parse("0"), Some(0.0));
        assert_eq!(parse("-12"), Some(-12.0));
        assert_eq!(parse("1.5e3"), Some(1500.0));
        assert_eq!(parse("2E-2"), Some(0.02));
        // Seventeen digits: serde_json's two roundings land an ulp off the nearest double.
        assert_eq!(parse("-10.386738321035347"), Some(-10.386738321035349));
        assert_eq!(parse("18446744073709551616.5"), Some(18446744073709551616.0));
        for bad in ["", "-", "01", "1.", ".5", "+1", "1e", "1-2", "1.2.3", "0x1"] {
            assert_eq!(parse(bad), None, "{}", bad);
        }
    }
}
