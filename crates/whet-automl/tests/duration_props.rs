//! Properties of `--time` parsing: no text makes it panic, and a positive amount in any unit
//! reads back as that many seconds.

use proptest::prelude::*;
use whet_automl::budget::parse_duration;

/// Found by the `duration` fuzz target: a finite, positive number of seconds too large for a
/// `Duration` panicked in `Duration::from_secs_f64`.
#[test]
fn a_budget_too_long_for_a_duration_is_an_error() {
    for text in [
        " 33333333333333333333  ",
        "99999999999999999999s",
        "1000000000000000000000h",
    ] {
        let err = parse_duration(text).expect_err(text);
        assert!(err.contains("longer than any budget"), "{err}");
    }
    assert!(parse_duration("18446744073s").is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse_duration(&text);
    }

    #[test]
    fn numbers_with_units_never_panic(digits in "[0-9]{1,40}(\\.[0-9]{0,20})?",
                                      unit in prop::sample::select(vec![
                                          "", "ms", "s", "sec", "secs", "m", "min", "mins",
                                          "h", "hr", "hours", "d", "x"])) {
        let _ = parse_duration(&format!("{digits}{unit}"));
    }

    #[test]
    fn units_scale_seconds(amount in 1u32..100_000,
                           unit in prop::sample::select(vec![
                               ("s", 1.0), ("m", 60.0), ("min", 60.0), ("h", 3600.0),
                               ("ms", 0.001)])) {
        let parsed = parse_duration(&format!("{amount}{}", unit.0))
            .map_err(TestCaseError::fail)?;
        let expected = f64::from(amount) * unit.1;
        prop_assert!((parsed.as_secs_f64() - expected).abs() <= 1e-9 * expected.max(1.0));
    }
}
