//! How a failed command ends: the message with its causes on stderr, and the exit code the
//! README promises — 2 when the command line asked for something impossible (a usage error),
//! 130 when the user stopped it (Ctrl-C), 1 for everything else (bad data, a missing file, a
//! full disk). `whet compare` also ends with 3 (indistinguishable) or 4 (worse) when it
//! worked but the challenger is not better (see `compare::exit_code`).

use std::fmt;
use std::process::ExitCode;

/// An argument that cannot be honoured, found after parsing (clap's own errors exit 2 too).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The user stopped the command (Ctrl-C, SIGTERM): exit code 130, as a shell reports it.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// A command that worked but refused what was asked (e.g. `whet model promote` when the
/// version is not better): its own exit code, 3 or 4 like `whet compare`.
#[derive(Debug)]
pub struct Refused {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// A usage error with its hint, e.g. `usage("--folds must be at least 2\nhint: …")`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

fn is_usage(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.downcast_ref::<UsageError>().is_some()
            || cause
                .downcast_ref::<whet_automl::AutomlError>()
                .is_some_and(|a| a.is_usage())
            || cause
                .downcast_ref::<whet_learn::LearnError>()
                .is_some_and(|l| l.is_usage())
            || cause
                .downcast_ref::<whet_review::ReviewError>()
                .is_some_and(|r| r.is_usage())
    })
}

/// Prints `e` and its causes (each once) and gives the exit code.
pub fn report(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e}");
    let shown = format!("{e}");
    let mut source = e.source();
    while let Some(s) = source {
        // Library errors already include their cause; avoid printing it twice.
        let text = s.to_string();
        if !shown.contains(&text) {
            eprintln!("  caused by: {text}");
        }
        source = s.source();
    }
    let interrupted = e.chain().any(|c| {
        c.downcast_ref::<Interrupted>().is_some()
            || matches!(
                c.downcast_ref::<whet_automl::AutomlError>(),
                Some(whet_automl::AutomlError::Interrupted)
            )
            || matches!(
                c.downcast_ref::<whet_data::DataError>(),
                Some(whet_data::DataError::Interrupted { .. })
            )
    });
    if let Some(r) = e.chain().find_map(|c| c.downcast_ref::<Refused>()) {
        return ExitCode::from(r.code);
    }
    ExitCode::from(if interrupted {
        130
    } else if is_usage(e) {
        2
    } else {
        1
    })
}

/// The thread count to use: at least 1, and at most 8 per core (more only adds overhead, and
/// an absurd number would spend seconds creating threads).
pub fn thread_count(requested: usize) -> Result<(usize, Option<String>), String> {
    if requested == 0 {
        return Err("--threads must be at least 1".into());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cap = (cores * 8).min(1024);
    if requested > cap {
        return Ok((
            cap,
            Some(format!(
                "--threads {requested} is more than this machine can use ({cores} cores); using {cap}"
            )),
        ));
    }
    Ok((requested, None))
}
