//! XXH3-64 with a seed (xxHash 0.8 specification), written out so the crate has no dependencies.
//! Verified against an independent implementation (hash-wasm) in test/unit/wasm/hash.test.ts.

const PRIME32_1: u64 = 0x9E37_79B1;
const PRIME32_2: u64 = 0x85EB_CA77;
const PRIME32_3: u64 = 0xC2B2_AE3D;
const PRIME64_1: u64 = 0x9E37_79B1_85EB_CA87;
const PRIME64_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const PRIME64_3: u64 = 0x1656_67B1_9E37_79F9;
const PRIME64_4: u64 = 0x85EB_CA77_C2B2_AE63;
const PRIME64_5: u64 = 0x27D4_EB2F_1656_67C5;
const PRIME_MX1: u64 = 0x1656_6791_9E37_79F9;
const PRIME_MX2: u64 = 0x9FB2_1C65_1E98_DF25;

const SECRET_SIZE: usize = 192;
const STRIPE_LEN: usize = 64;
const SECRET_CONSUME_RATE: usize = 8;
const MIDSIZE_STARTOFFSET: usize = 3;
const MIDSIZE_LASTOFFSET: usize = 17;
const SECRET_SIZE_MIN: usize = 136;
const SECRET_LASTACC_START: usize = 7;
const SECRET_MERGEACCS_START: usize = 11;

const K_SECRET: [u8; SECRET_SIZE] = [
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
];

#[inline(always)]
fn r32(b: &[u8], i: usize) -> u64 {
    assert!(i + 4 <= b.len());
    // Bounds checked above; an unaligned little-endian load.
    u32::from_le(unsafe { std::ptr::read_unaligned(b.as_ptr().add(i) as *const u32) }) as u64
}

#[inline(always)]
fn r64(b: &[u8], i: usize) -> u64 {
    assert!(i + 8 <= b.len());
    u64::from_le(unsafe { std::ptr::read_unaligned(b.as_ptr().add(i) as *const u64) })
}

/// The 128-bit product of `a` and `b`, low half xor high half. Written with 32-bit halves: on wasm32 a
/// u128 multiply is a call to a generic 128x128 routine.
#[inline(always)]
fn mul128_fold64(a: u64, b: u64) -> u64 {
    let (a_lo, a_hi) = (a & 0xFFFF_FFFF, a >> 32);
    let (b_lo, b_hi) = (b & 0xFFFF_FFFF, b >> 32);
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    let cross = (lo_lo >> 32) + (hi_lo & 0xFFFF_FFFF) + lo_hi;
    let upper = (hi_lo >> 32) + (cross >> 32) + hi_hi;
    let lower = (cross << 32) | (lo_lo & 0xFFFF_FFFF);
    lower ^ upper
}

#[inline(always)]
fn xxh64_avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(PRIME64_2);
    h ^= h >> 29;
    h = h.wrapping_mul(PRIME64_3);
    h ^ (h >> 32)
}

#[inline(always)]
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 37;
    h = h.wrapping_mul(PRIME_MX1);
    h ^ (h >> 32)
}

#[inline(always)]
fn rrmxmx(mut h: u64, len: u64) -> u64 {
    h ^= h.rotate_left(49) ^ h.rotate_left(24);
    h = h.wrapping_mul(PRIME_MX2);
    h ^= (h >> 35).wrapping_add(len);
    h = h.wrapping_mul(PRIME_MX2);
    h ^ (h >> 28)
}

#[inline(always)]
fn mix16(input: &[u8], i: usize, secret: &[u8], s: usize, seed: u64) -> u64 {
    let lo = r64(input, i);
    let hi = r64(input, i + 8);
    mul128_fold64(
        lo ^ r64(secret, s).wrapping_add(seed),
        hi ^ r64(secret, s + 8).wrapping_sub(seed),
    )
}

fn len_0to16(input: &[u8], seed: u64) -> u64 {
    let s = &K_SECRET;
    let len = input.len();
    if len > 8 {
        let bitflip1 = (r64(s, 24) ^ r64(s, 32)).wrapping_add(seed);
        let bitflip2 = (r64(s, 40) ^ r64(s, 48)).wrapping_sub(seed);
        let lo = r64(input, 0) ^ bitflip1;
        let hi = r64(input, len - 8) ^ bitflip2;
        let acc = (len as u64)
            .wrapping_add(lo.swap_bytes())
            .wrapping_add(hi)
            .wrapping_add(mul128_fold64(lo, hi));
        avalanche(acc)
    } else if len >= 4 {
        let seed = seed ^ (((seed as u32).swap_bytes() as u64) << 32);
        let in1 = r32(input, 0);
        let in2 = r32(input, len - 4);
        let bitflip = (r64(s, 8) ^ r64(s, 16)).wrapping_sub(seed);
        let keyed = in2.wrapping_add(in1 << 32) ^ bitflip;
        rrmxmx(keyed, len as u64)
    } else if len > 0 {
        let c1 = input[0] as u32;
        let c2 = input[len >> 1] as u32;
        let c3 = input[len - 1] as u32;
        let combined = (c1 << 16) | (c2 << 24) | c3 | ((len as u32) << 8);
        let bitflip = (r32(s, 0) ^ r32(s, 4)).wrapping_add(seed);
        xxh64_avalanche((combined as u64) ^ bitflip)
    } else {
        xxh64_avalanche(seed ^ r64(s, 56) ^ r64(s, 64))
    }
}

fn len_17to128(input: &[u8], seed: u64) -> u64 {
    let s = &K_SECRET;
    let len = input.len();
    let mut acc = (len as u64).wrapping_mul(PRIME64_1);
    if len > 32 {
        if len > 64 {
            if len > 96 {
                acc = acc.wrapping_add(mix16(input, 48, s, 96, seed));
                acc = acc.wrapping_add(mix16(input, len - 64, s, 112, seed));
            }
            acc = acc.wrapping_add(mix16(input, 32, s, 64, seed));
            acc = acc.wrapping_add(mix16(input, len - 48, s, 80, seed));
        }
        acc = acc.wrapping_add(mix16(input, 16, s, 32, seed));
        acc = acc.wrapping_add(mix16(input, len - 32, s, 48, seed));
    }
    acc = acc.wrapping_add(mix16(input, 0, s, 0, seed));
    acc = acc.wrapping_add(mix16(input, len - 16, s, 16, seed));
    avalanche(acc)
}

fn len_129to240(input: &[u8], seed: u64) -> u64 {
    let s = &K_SECRET;
    let len = input.len();
    let mut acc = (len as u64).wrapping_mul(PRIME64_1);
    let rounds = len / 16;
    for i in 0..8 {
        acc = acc.wrapping_add(mix16(input, 16 * i, s, 16 * i, seed));
    }
    acc = avalanche(acc);
    for i in 8..rounds {
        acc = acc.wrapping_add(mix16(input, 16 * i, s, 16 * (i - 8) + MIDSIZE_STARTOFFSET, seed));
    }
    acc = acc.wrapping_add(mix16(input, len - 16, s, SECRET_SIZE_MIN - MIDSIZE_LASTOFFSET, seed));
    avalanche(acc)
}

#[inline(always)]
fn accumulate_512(acc: &mut [u64; 8], input: &[u8], i: usize, secret: &[u8], s: usize) {
    for lane in 0..8 {
        let data = r64(input, i + 8 * lane);
        let key = data ^ r64(secret, s + 8 * lane);
        acc[lane ^ 1] = acc[lane ^ 1].wrapping_add(data);
        acc[lane] = acc[lane].wrapping_add((key & 0xFFFF_FFFF).wrapping_mul(key >> 32));
    }
}

fn scramble(acc: &mut [u64; 8], secret: &[u8], s: usize) {
    for (lane, a) in acc.iter_mut().enumerate() {
        let mut v = *a;
        v ^= v >> 47;
        v ^= r64(secret, s + 8 * lane);
        *a = v.wrapping_mul(PRIME32_1);
    }
}

fn hash_long(input: &[u8], seed: u64) -> u64 {
    let mut secret = [0u8; SECRET_SIZE];
    for i in 0..SECRET_SIZE / 16 {
        let lo = r64(&K_SECRET, 16 * i).wrapping_add(seed);
        let hi = r64(&K_SECRET, 16 * i + 8).wrapping_sub(seed);
        secret[16 * i..16 * i + 8].copy_from_slice(&lo.to_le_bytes());
        secret[16 * i + 8..16 * i + 16].copy_from_slice(&hi.to_le_bytes());
    }
    let len = input.len();
    let mut acc = [
        PRIME32_3, PRIME64_1, PRIME64_2, PRIME64_3, PRIME64_4, PRIME32_2, PRIME64_5, PRIME32_1,
    ];
    let stripes_per_block = (SECRET_SIZE - STRIPE_LEN) / SECRET_CONSUME_RATE;
    let block_len = STRIPE_LEN * stripes_per_block;
    let blocks = (len - 1) / block_len;
    for b in 0..blocks {
        for n in 0..stripes_per_block {
            accumulate_512(&mut acc, input, b * block_len + n * STRIPE_LEN, &secret, n * SECRET_CONSUME_RATE);
        }
        scramble(&mut acc, &secret, SECRET_SIZE - STRIPE_LEN);
    }
    let stripes = ((len - 1) - block_len * blocks) / STRIPE_LEN;
    for n in 0..stripes {
        accumulate_512(&mut acc, input, blocks * block_len + n * STRIPE_LEN, &secret, n * SECRET_CONSUME_RATE);
    }
    accumulate_512(&mut acc, input, len - STRIPE_LEN, &secret, SECRET_SIZE - STRIPE_LEN - SECRET_LASTACC_START);
    let mut result = (len as u64).wrapping_mul(PRIME64_1);
    for i in 0..4 {
        let s = SECRET_MERGEACCS_START + 16 * i;
        result = result.wrapping_add(mul128_fold64(
            acc[2 * i] ^ r64(&secret, s),
            acc[2 * i + 1] ^ r64(&secret, s + 8),
        ));
    }
    avalanche(result)
}

/// XXH3-64 of `input` with `seed`.
pub fn xxh3_64(input: &[u8], seed: u64) -> u64 {
    match input.len() {
        0..=16 => len_0to16(input, seed),
        17..=128 => len_17to128(input, seed),
        129..=240 => len_129to240(input, seed),
        _ => hash_long(input, seed),
    }
}

/// DESIGN §6: the seed of every KV block hash.
pub const BLOCK_HASH_SEED: u64 = 1337;

/// Local and sequence hashes of the full blocks of `tokens` (DESIGN §6), written to `local` and
/// `sequence` (each `tokens.len() / block_size` long). With `parent`, the first block chains onto that
/// sequence hash (a request continued block by block); without, it starts a sequence.
pub fn block_hashes(tokens: &[u32], block_size: usize, parent: Option<u64>, local: &mut [u64], sequence: &mut [u64]) {
    let mut bytes = Vec::new();
    let mut parent = parent;
    for (i, block) in tokens.chunks_exact(block_size).enumerate() {
        let l = if cfg!(target_endian = "little") {
            // The tokens' memory already is their u32 little-endian bytes.
            xxh3_64(unsafe { std::slice::from_raw_parts(block.as_ptr() as *const u8, block.len() * 4) }, BLOCK_HASH_SEED)
        } else {
            bytes.resize(block_size * 4, 0);
            for (j, t) in block.iter().enumerate() {
                bytes[4 * j..4 * j + 4].copy_from_slice(&t.to_le_bytes());
            }
            xxh3_64(&bytes, BLOCK_HASH_SEED)
        };
        let s = match parent {
            None => l,
            Some(p) => {
                let mut pair = [0u8; 16];
                pair[..8].copy_from_slice(&p.to_le_bytes());
                pair[8..].copy_from_slice(&l.to_le_bytes());
                xxh3_64(&pair, BLOCK_HASH_SEED)
            }
        };
        local[i] = l;
        sequence[i] = s;
        parent = Some(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_vector() {
        let l = &mut [0u64; 1];
        let s = &mut [0u64; 1];
        block_hashes(&[1, 2, 3, 4], 4, None, l, s);
        assert_eq!(l[0], 0xcb38e4d7fb2dca5c);
        assert_eq!(s[0], l[0]);
    }
}
