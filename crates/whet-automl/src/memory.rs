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

/// Whether tree fits of `rows` × `features` should keep their bins once
/// (`BinLayout::RowsOnly`: the same models, a slower partition) because with two copies they
/// would leave less than a fifth of the `available` bytes free: the bins twice, and for each of
/// `fits_at_once` fits, per row and output a gradient pair and a score (16 bytes) and per row
/// up to three row lists (a bagging sample, a tree's rows and the partition's scratch: 12 bytes).
pub fn bins_kept_once(
    rows: u64,
    features: u64,
    outputs: u64,
    fits_at_once: u64,
    available: u64,
) -> bool {
    let per_fit = rows.saturating_mul(outputs.saturating_mul(16).saturating_add(12));
    let two_copies = rows
        .saturating_mul(features)
        .saturating_mul(2)
        .saturating_add(per_fit.saturating_mul(fits_at_once.max(1)));
    two_copies > available / 5 * 4
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
    fn bins_are_kept_once_only_when_two_copies_would_crowd_memory() {
        // 10M rows × 28, one output: 560 MB of bins and 280 MB of other buffers.
        let (rows, features) = (10_000_000, 28);
        assert!(!bins_kept_once(rows, features, 1, 1, 24 << 30));
        assert!(!bins_kept_once(rows, features, 1, 1, 1_050_000_000));
        assert!(bins_kept_once(rows, features, 1, 1, 1_049_000_000));
        // More outputs, more gradients and scores; more fits at once, more of both.
        assert!(bins_kept_once(rows, features, 10, 1, 2 << 30));
        assert!(!bins_kept_once(rows, features, 1, 2, 1_400_000_000));
        assert!(bins_kept_once(rows, features, 1, 2, 1_390_000_000));
        assert!(!bins_kept_once(0, features, 1, 1, 0));
        assert!(bins_kept_once(
            u64::MAX,
            u64::MAX,
            u64::MAX,
            u64::MAX,
            u64::MAX
        ));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
