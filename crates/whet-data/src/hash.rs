//! The hash functions of whet-data, in one place. Their values reach users and saved files
//! (text-hash buckets in models; `profile::value_hashes`, built on `mix64` and `hash_bytes`,
//! behind distinct counts, duplicate and leakage checks; table fingerprints), so none may ever
//! change: functions that differ, even by one rotate, keep their own names here rather than
//! share a parameterised loop.

use crate::table::Table;

/// 64-bit FNV-1a offset basis and prime.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// 64-bit FNV-1a of `bytes`, one byte at a time.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Mixes the bits of one word; the row and value hashes are built from it.
#[inline]
pub(crate) fn mix64(h: u64) -> u64 {
    // The SplitMix64 finaliser: cheap and spreads every input bit.
    let mut z = h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hash of a byte string, eight bytes at a time. Not FNV-1a: only the seed is FNV's (xored
/// with the length), and each little-endian word goes through `mix64`; the zero-padded last
/// word is marked with `0xff`.
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix64(h ^ u64::from_le_bytes(w));
    }
    let mut w = [0u8; 8];
    w[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    mix64(h ^ u64::from_le_bytes(w) ^ 0xff)
}

/// Folds the next column's value hash into a row's hash (duplicate rows, train/test overlap).
#[inline]
pub(crate) fn fold_row(row: u64, value: u64) -> u64 {
    mix64(row.rotate_left(23) ^ value)
}

/// A content fingerprint of a table: every value of every column, with the column names, so
/// the same data read from CSV or Parquet gets the same fingerprint.
pub fn table_fingerprint(table: &Table) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |v: u64| {
        h ^= v;
        h = h.wrapping_mul(0x0100_0000_01b3).rotate_left(29);
    };
    for (i, c) in table.columns.iter().enumerate() {
        for b in c.name.bytes() {
            mix(u64::from(b));
        }
        for v in crate::profile::value_hashes(table.array(i)) {
            mix(v);
        }
    }
    mix(table.n_rows() as u64);
    format!("whet64:{h:016x}")
}
