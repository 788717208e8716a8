//! Small string helpers shared by the report, Prep's error messages and the binary.

/// `s` cut to at most `max` characters, the last of them `…` when anything was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
