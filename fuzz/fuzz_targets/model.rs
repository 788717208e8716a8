//! The model-file loader. The header's checksum would stop almost every mutated input at the
//! first check, so the first byte chooses how the rest is presented: as a whole file, or as a
//! payload the target wraps in a valid header (format 1: MessagePack; format 2: compressed
//! here, or claimed to be compressed as is) so the decoder behind the checksum is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whet_fuzz::take_byte;
use whet_learn::model::{FORMAT_VERSION, MAGIC, Model};

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn wrap(version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(28 + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&fnv1a(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = take_byte(data);
    let file = match mode % 4 {
        0 => data.to_vec(),
        1 => wrap(1, rest),
        2 => {
            let Ok(compressed) = zstd_compress(rest) else {
                return;
            };
            let mut payload = (rest.len() as u64).to_le_bytes().to_vec();
            payload.extend_from_slice(&compressed);
            wrap(FORMAT_VERSION, &payload)
        }
        _ => wrap(FORMAT_VERSION, rest),
    };
    let _ = Model::from_bytes(&file, "fuzz.whet");
});

fn zstd_compress(bytes: &[u8]) -> Result<Vec<u8>, ()> {
    zstd::bulk::compress(bytes, 1).map_err(|_| ())
}
