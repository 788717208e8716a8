//! Learner parameter parsing (`whet fit --learner L -p KEY=VALUE ...`) for every learner, and
//! the `--types COL=TYPE,...` parser beside it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whet_learn::{LearnerKind, LearnerParams};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line names the learner; each further line is one -p pair.
    let mut lines = text.split('\n');
    let name = lines.next().unwrap_or_default();
    let pairs: Vec<&str> = lines.collect();
    let kinds: Vec<LearnerKind> = match LearnerKind::from_name(name) {
        Ok(kind) => vec![kind],
        Err(_) => LearnerKind::ALL.to_vec(),
    };
    for kind in kinds {
        let mut params = LearnerParams::defaults(kind);
        if params.set_all(pairs.iter().copied()).is_ok() {
            let _ = params.max_bin();
        }
    }
    let _ = whet_data::table::parse_type_hints(text);
});
