//! Bytes → ids, for the models' word caches (a pre-tokenized word → its ids) and a BPE vocabulary:
//! one open-addressing table over two arenas. No allocation per word, and keys compared 8 bytes at a
//! time (a `HashMap<Vec<u8>, _>` allocates per entry and compares through `memcmp`, a byte loop on
//! wasm32).

/// Words cached: past this many the cache is cleared (a bounded memory for unbounded input).
const CACHE_CAPACITY: usize = 100_000;
/// Longer words are not cached (they are rare, and would pin memory).
const CACHE_MAX_WORD: usize = 256;
const MULTIPLIER: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Clone, Copy)]
struct Entry {
    hash: u64,
    key: u32,
    key_len: u32,
    ids: u32,
    ids_len: u32,
}

pub struct WordMap {
    /// Past this many entries an insert clears the map first.
    capacity: usize,
    /// Longer keys are not inserted.
    max_key: usize,
    /// The top 32 bits of an entry's hash (compared before the entry is read) << 32 | its index + 1
    /// in `entries`, or 0 when free; empty, or a power of two at least twice `entries`.
    slots: Vec<u64>,
    /// log2 of `slots.len()`.
    bits: u32,
    entries: Vec<Entry>,
    keys: Vec<u8>,
    ids: Vec<u32>,
}

#[inline(always)]
fn load8(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[inline(always)]
fn load4(b: &[u8]) -> u64 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a) as u64
}

/// The bytes of `w` past its whole 8-byte words, as one word (overlapping loads; for words of the
/// same length, equal exactly when those bytes are).
#[inline(always)]
fn tail(w: &[u8]) -> u64 {
    let n = w.len();
    match n % 8 {
        0 => 0,
        _ if n > 8 => load8(&w[n - 8..]),
        4..=7 => load4(w) | load4(&w[n - 4..]) << 32,
        _ => w[0] as u64 | (w[n / 2] as u64) << 8 | (w[n - 1] as u64) << 16,
    }
}

/// FxHash-style over 8-byte words; the slot comes from the top bits, which the multiply mixes best.
#[inline]
fn hash(w: &[u8]) -> u64 {
    let step = |h: u64, v: u64| (h.rotate_left(5) ^ v).wrapping_mul(MULTIPLIER);
    let h = w.chunks_exact(8).fold(w.len() as u64, |h, c| step(h, load8(c)));
    let h = step(h, tail(w));
    (h ^ (h >> 32)).wrapping_mul(MULTIPLIER)
}

#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.chunks_exact(8).zip(b.chunks_exact(8)).all(|(x, y)| load8(x) == load8(y))
        && tail(a) == tail(b)
}

impl WordMap {
    /// A word cache: bounded, and skipping long words.
    pub fn cache() -> WordMap {
        WordMap::new(CACHE_CAPACITY, CACHE_MAX_WORD)
    }

    /// A map that keeps whatever is inserted.
    pub fn unbounded() -> WordMap {
        WordMap::new(usize::MAX, usize::MAX)
    }

    fn new(capacity: usize, max_key: usize) -> WordMap {
        WordMap {
            capacity,
            max_key,
            slots: Vec::new(),
            bits: 0,
            entries: Vec::new(),
            keys: Vec::new(),
            ids: Vec::new(),
        }
    }

    #[inline]
    fn slot(&self, hash: u64) -> usize {
        (hash >> (64 - self.bits)) as usize
    }

    pub fn get(&self, w: &[u8]) -> Option<&[u32]> {
        if self.slots.is_empty() {
            return None;
        }
        let h = hash(w);
        let mask = self.slots.len() - 1;
        let mut i = self.slot(h);
        loop {
            let e = *self.slots.get(i)?;
            if e == 0 {
                return None;
            }
            if e >> 32 != h >> 32 {
                i = (i + 1) & mask;
                continue;
            }
            let en = self.entries.get((e as u32 - 1) as usize)?;
            if en.hash == h && same(self.keys.get(en.key as usize..(en.key + en.key_len) as usize)?, w) {
                return self.ids.get(en.ids as usize..(en.ids + en.ids_len) as usize);
            }
            i = (i + 1) & mask;
        }
    }

    /// Maps a key `get` does not find (an earlier entry for the same key would shadow it).
    pub fn insert(&mut self, w: &[u8], ids: &[u32]) {
        if w.len() > self.max_key {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.slots.iter_mut().for_each(|s| *s = 0);
            self.entries.clear();
            self.keys.clear();
            self.ids.clear();
        }
        if 2 * (self.entries.len() + 1) > self.slots.len() {
            self.grow();
        }
        let h = hash(w);
        self.entries.push(Entry {
            hash: h,
            key: self.keys.len() as u32,
            key_len: w.len() as u32,
            ids: self.ids.len() as u32,
            ids_len: ids.len() as u32,
        });
        self.keys.extend_from_slice(w);
        self.ids.extend_from_slice(ids);
        self.place(h, self.entries.len() as u32);
    }

    fn place(&mut self, hash: u64, entry: u32) {
        let mask = self.slots.len() - 1;
        let mut i = self.slot(hash);
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (hash >> 32) << 32 | entry as u64;
    }

    fn grow(&mut self) {
        self.bits = (self.bits + 1).max(10);
        self.slots = vec![0; 1 << self.bits];
        for k in 0..self.entries.len() {
            self.place(self.entries[k].hash, k as u32 + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_across_growth_and_clearing() {
        let mut c = WordMap::cache();
        let word = |i: usize| format!("w{}{}", i, "x".repeat(i % 20)).into_bytes();
        for i in 0..CACHE_CAPACITY {
            assert_eq!(c.get(&word(i)), None);
            c.insert(&word(i), &[i as u32, 7]);
        }
        for i in (0..CACHE_CAPACITY).step_by(97) {
            assert_eq!(c.get(&word(i)), Some(&[i as u32, 7][..]));
        }
        c.insert(b"next", &[1]);
        assert_eq!(c.get(&word(0)), None);
        assert_eq!(c.get(b"next"), Some(&[1][..]));
        c.insert(&[b'a'; CACHE_MAX_WORD + 1], &[1]);
        assert_eq!(c.get(&[b'a'; CACHE_MAX_WORD + 1]), None);
    }
}
