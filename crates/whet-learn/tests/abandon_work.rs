//! Abandoning named work (`whet worker` stops the fit of a cancelled task). A test binary of
//! its own: the flags are process-wide, and a fit in a parallel test would see them.

use whet_learn::stop::{abandon_work, begin_work, past, work_abandoned};

#[test]
fn only_the_work_under_way_is_abandoned() {
    assert!(!past(None));
    begin_work(7);
    assert!(!work_abandoned());
    // A cancellation of earlier work heard late does not stop this one.
    abandon_work(6);
    assert!(!past(None));
    abandon_work(7);
    assert!(work_abandoned() && past(None));
    // The next task starts clean, though the last abandon named the one before.
    begin_work(8);
    assert!(!past(None));
    // Between tasks nothing is under way, so nothing is abandoned.
    begin_work(0);
    abandon_work(0);
    assert!(!work_abandoned());
}
