//! Properties of learner parameter parsing (`-p KEY=VALUE`): no text makes it panic for any
//! learner, and a value set from text is the value read back.

use proptest::prelude::*;
use whet_learn::{LearnerKind, LearnerParams};

fn names() -> Vec<&'static str> {
    LearnerKind::ALL
        .iter()
        .flat_map(|k| LearnerParams::defaults(*k).names().to_vec())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_pairs_never_panic(pairs in prop::collection::vec(any::<String>(), 0..4),
                                   name in any::<String>()) {
        let _ = LearnerKind::from_name(&name);
        for kind in LearnerKind::ALL {
            let mut params = LearnerParams::defaults(kind);
            if params.set_all(pairs.iter().map(String::as_str)).is_ok() {
                let _ = params.binning();
            }
        }
    }

    #[test]
    fn known_keys_with_odd_values_never_panic(
        key in prop::sample::select(names()),
        value in prop_oneof![
            Just("-1".to_string()), Just("0".to_string()), Just("1e309".to_string()),
            Just("NaN".to_string()), Just("inf".to_string()), Just("-0".to_string()),
            Just("18446744073709551616".to_string()), Just("true".to_string()),
            Just(String::new()), "[-+0-9.e]{1,24}", any::<String>(),
        ]) {
        for kind in LearnerKind::ALL {
            let mut params = LearnerParams::defaults(kind);
            let _ = params.set_all([format!("{key}={value}").as_str()]);
        }
    }

    #[test]
    fn type_hints_never_panic(spec in any::<String>()) {
        let _ = whet_data::table::parse_type_hints(&spec);
    }
}
