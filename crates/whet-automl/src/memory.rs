//! Refusing work that would not fit in memory, before it starts, rather than being killed
//! half-way.

/// Bytes a training run is expected to need at its peak for a data file of `file_bytes`:
/// the decoded table (about the file's size for CSV, several times it for compressed
/// formats), the features (4 bytes a cell), two binned copies (1 byte a cell each), the
/// out-of-fold predictions of the ensemble candidates, and the fold models.
pub fn estimate_training_bytes(file_bytes: u64, compressed: bool) -> u64 {
    let decoded = if compressed {
        file_bytes.saturating_mul(6)
    } else {
        file_bytes
    };
    // Table + features (~ the decoded size again) + bins + predictions and models: measured
    // peaks on the bundled and benchmark sets stay under 3x the decoded table.
    decoded.saturating_mul(3).saturating_add(64 << 20)
}

/// Memory available to this process: `WHET_MEMORY_AVAILABLE` (bytes, for tests and
/// containers whose limits /proc does not show), else MemAvailable from /proc/meminfo.
pub fn available_bytes() -> Option<u64> {
    if let Ok(v) = std::env::var("WHET_MEMORY_AVAILABLE")
        && let Ok(n) = v.trim().parse::<u64>()
    {
        return Some(n);
    }
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_the_file_and_compression() {
        let plain = estimate_training_bytes(1 << 30, false);
        let gz = estimate_training_bytes(1 << 30, true);
        assert!(plain >= 3 << 30);
        assert!(gz > plain);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
