//! The seeded data pattern, identical in `libnfs-driver/driver.c` so both clients write and
//! check the same bytes.
//!
//! The pattern is a buffer of little-endian words `splitmix64(seed + word_index)`, `PATTERN_SLACK`
//! bytes longer than a block. Block `i` of thread `t`'s file is the pattern from
//! [`block_key`]`(seed, t, i)` on, so writes go straight from the buffer (generating data never
//! counts as client CPU) and a block written at the wrong offset reads back wrong.

/// Extra pattern bytes beyond one block: block keys fall in `0..PATTERN_SLACK`.
pub const PATTERN_SLACK: usize = 32768;

pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The pattern buffer for blocks of `len` bytes.
pub fn make(seed: u64, len: usize) -> Vec<u8> {
    let words = (len + PATTERN_SLACK).div_ceil(8);
    let mut p = Vec::with_capacity(words * 8);
    for w in 0..words as u64 {
        p.extend_from_slice(&splitmix64(seed.wrapping_add(w)).to_le_bytes());
    }
    p
}

/// Where block `block` of thread `thread`'s file starts in the pattern.
pub fn block_key(seed: u64, thread: u64, block: u64) -> usize {
    ((splitmix64(seed ^ ((thread + 1) << 40) ^ block) % 4096) * 8) as usize
}

/// The order a thread visits its file's blocks in: sequential, or a seeded Fisher-Yates shuffle.
pub fn block_order(seed: u64, thread: u64, blocks: u64, random: bool) -> Vec<u64> {
    let mut order: Vec<u64> = (0..blocks).collect();
    if random {
        for i in (2..=blocks).rev() {
            let j = splitmix64(seed ^ (thread << 32) ^ i) % i;
            order.swap((i - 1) as usize, j as usize);
        }
    }
    order
}

/// The first offset where `got` differs from `want`, if any.
pub fn first_difference(got: &[u8], want: &[u8]) -> Option<usize> {
    if got.len() == want.len() && got == want {
        return None;
    }
    Some(got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_values() {
        // splitmix64 with state 0 then 0x9E3779B97F4A7C15: the published first outputs.
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(0x9E37_79B9_7F4A_7C15), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn orders_are_permutations() {
        let mut o = block_order(7, 1, 100, true);
        assert_ne!(o, (0..100).collect::<Vec<_>>());
        o.sort_unstable();
        assert_eq!(o, (0..100).collect::<Vec<_>>());
        assert_eq!(block_order(7, 1, 5, false), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn differences_are_found() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abd", b"abc"), Some(2));
        assert_eq!(first_difference(b"ab", b"abc"), Some(2));
    }
}
