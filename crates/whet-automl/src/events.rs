//! What a running study tells the world: typed events to one observer. The CLI's live
//! display, the tracking store, and a server or a remote worker all subscribe the same way;
//! the study itself never prints.

use crate::search::{FoldPredictions, TrialRecord};
use crate::space::LearnerKind;

/// The stages of a study, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Trials are being fitted and cross-validated.
    Search,
    /// Greedy ensemble selection over the best trials' out-of-fold predictions.
    Ensemble,
    /// The final model: the bag of fold models, or a refit, or nested CV comparing both.
    FinalModel,
    /// The final model scores the test set.
    Test,
}

impl Stage {
    /// How a progress display names the stage.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Search => "searching",
            Stage::Ensemble => "selecting an ensemble",
            Stage::FinalModel => "building the final model",
            Stage::Test => "scoring the test set",
        }
    }
}

pub enum StudyEvent<'a> {
    StageChanged(Stage),
    TrialStarted {
        id: usize,
        learner: LearnerKind,
    },
    /// `folds` holds the trial's out-of-fold predictions, fold by fold (the folds it ran, for a
    /// pruned trial; none for a failed one); `best` is the best completed trial so far.
    TrialFinished {
        trial: &'a TrialRecord,
        best: Option<&'a TrialRecord>,
        folds: &'a [FoldPredictions<'a>],
    },
    /// `trial` became the best completed trial (sent right after its `TrialFinished`).
    NewBest {
        trial: &'a TrialRecord,
    },
    /// Something the study decided and why; every note is also in the outcome.
    Note(&'a str),
}

/// Receives a study's events as they happen, on the thread that runs the study.
pub trait Observer {
    fn event(&mut self, event: StudyEvent<'_>);
}

/// Ignores every event.
pub struct NoObserver;

impl Observer for NoObserver {
    fn event(&mut self, _: StudyEvent<'_>) {}
}

/// Sends the notes added since the last call (`sent` counts those already sent), so
/// observers see each note once, close to when it was made.
pub(crate) fn send_new_notes(observer: &mut dyn Observer, notes: &[String], sent: &mut usize) {
    for note in notes.iter().skip(*sent) {
        observer.event(StudyEvent::Note(note));
    }
    *sent = notes.len().max(*sent);
}
