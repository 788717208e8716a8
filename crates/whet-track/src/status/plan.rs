//! The plan: ordered next actions derived from a report's facts alone, each with its command.

use super::*;

/// Failed or killed runs of one experiment listed one by one in the plan; beyond this, one
/// line lists them all.
const PLAN_RUNS_PER_EXPERIMENT: usize = 3;

/// `YYYY-MM-DD` (UTC) of a time in ms, for plan sentences.
pub fn date(ms: i64) -> String {
    // Days to civil date (H. Hinnant's algorithm); this crate depends on no whet crate that
    // has one.
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A word as a shell reads it: as is when it is plain, else in single quotes.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The labelled data the store last saw used for judging `model` (a comparison's or a
/// review's), else the placeholder.
fn labelled_data(m: &ModelStatus) -> String {
    let mut seen: Vec<(i64, &str)> = Vec::new();
    for v in &m.versions {
        if let Some(c) = &v.compare
            && let Some(d) = &c.data
        {
            seen.push((c.time, d));
        }
        if let Some(r) = &v.review
            && let Some(d) = &r.data
        {
            seen.push((r.time, d));
        }
    }
    seen.into_iter()
        .max()
        .map_or_else(|| DATA_PLACEHOLDER.to_string(), |(_, d)| shell_word(d))
}

/// The next actions the facts call for, most urgent first (see [`PlanKind`] for the order);
/// within a kind, by experiment or model name.
pub fn plan(r: &StatusReport) -> Vec<PlanStep> {
    let mut steps = Vec::new();
    let step = |kind, text: String, command: String| PlanStep {
        kind,
        text,
        command,
        experiment: None,
        model: None,
        version: None,
        run_id: None,
    };

    for m in &r.models {
        let holder = |alias: &str| m.aliases.iter().find(|a| a.alias == alias);
        let champion = holder("champion");
        let data = labelled_data(m);
        for v in &m.versions {
            let name_at = match v.aliases.first() {
                Some(a) => format!("{}@{a} v{}", m.name, v.version),
                None => format!("{} v{}", m.name, v.version),
            };
            // Retrain: an aliased version whose latest drift check found drift.
            if !v.aliases.is_empty()
                && let Some(d) = &v.drift
                && d.verdict == "drift"
            {
                let n = d.drifted.len();
                let command = match (&d.data, &v.target) {
                    (Some(data), Some(target)) => format!(
                        "whet train {} --target {}{}",
                        shell_word(data),
                        shell_word(target),
                        v.experiment
                            .as_ref()
                            .map(|e| format!(" --experiment {}", shell_word(e)))
                            .unwrap_or_default()
                    ),
                    _ => format!("whet model show {}/{}", shell_word(&m.name), v.version),
                };
                let mut s = step(
                    PlanKind::Retrain,
                    format!(
                        "{name_at} drifted on {n} column{} (drift run {}, {}): retrain on \
                         fresh labelled data",
                        if n == 1 { "" } else { "s" },
                        short(&d.run_id),
                        date(d.time)
                    ),
                    command,
                );
                s.model = Some(m.name.clone());
                s.version = Some(v.version);
                s.run_id = Some(d.run_id.clone());
                steps.push(s);
            }
            // Promote: a comparison found this version better than the version that still
            // holds the alias it was compared for.
            if let Some(c) = &v.compare
                && c.verdict == "better"
                && let Some(against) = c.against_version
            {
                let alias = c
                    .alias
                    .as_deref()
                    .and_then(holder)
                    .or_else(|| m.aliases.iter().find(|a| a.version == against));
                if let Some(a) = alias
                    && a.version == against
                    && a.version != v.version
                {
                    let mut s = step(
                        PlanKind::Promote,
                        format!(
                            "{} v{} is better than {}@{} v{} (compare {}, {})",
                            m.name,
                            v.version,
                            m.name,
                            a.alias,
                            a.version,
                            short(&c.run_id),
                            date(c.time)
                        ),
                        format!(
                            "whet model promote {} --version {} --alias {} --data {}",
                            shell_word(&m.name),
                            v.version,
                            a.alias,
                            c.data.as_deref().map_or_else(|| data.clone(), shell_word)
                        ),
                    );
                    s.model = Some(m.name.clone());
                    s.version = Some(v.version);
                    s.run_id = Some(c.run_id.clone());
                    steps.push(s);
                }
            }
            // Compare: a version newer than the champion, not yet compared with it.
            if let Some(ch) = champion
                && v.version > ch.version
                && v.compare
                    .as_ref()
                    .is_none_or(|c| c.against_version != Some(ch.version))
            {
                let mut s = step(
                    PlanKind::Compare,
                    format!(
                        "{name_at} is newer than {}@champion v{} and not compared with it",
                        m.name, ch.version
                    ),
                    format!(
                        "whet compare models:/{}@champion models:/{}/{} {data}",
                        m.name, m.name, v.version
                    ),
                );
                s.model = Some(m.name.clone());
                s.version = Some(v.version);
                steps.push(s);
            }
            // Review: every version listed (aliased or newest) deserves one.
            if v.review.is_none() {
                let mut s = step(
                    PlanKind::Review,
                    format!("no review for {name_at}"),
                    format!("whet review models:/{}/{} {data}", m.name, v.version),
                );
                s.model = Some(m.name.clone());
                s.version = Some(v.version);
                steps.push(s);
            }
        }
        if m.aliases.is_empty()
            && let Some(latest) = m.latest_version
        {
            let reviewed = m
                .versions
                .iter()
                .any(|v| v.version == latest && v.review.is_some());
            let mut s = step(
                PlanKind::SetAlias,
                if reviewed {
                    format!(
                        "{} has no champion: v{latest} is reviewed, name it champion if the review is good",
                        m.name
                    )
                } else {
                    format!(
                        "{} has no champion: name one once v{latest} is reviewed",
                        m.name
                    )
                },
                format!(
                    "whet model promote {} --version {latest} --alias champion --data {data}",
                    shell_word(&m.name)
                ),
            );
            s.model = Some(m.name.clone());
            s.version = Some(latest);
            steps.push(s);
        }
    }

    for e in &r.experiments {
        let exp = shell_word(&e.name);
        let own: Vec<&Attention> = e
            .attention
            .iter()
            .filter(|a| a.reason != "failed_trials")
            .collect();
        for a in own.iter().take(if own.len() > PLAN_RUNS_PER_EXPERIMENT {
            0
        } else {
            PLAN_RUNS_PER_EXPERIMENT
        }) {
            let mut s = step(
                PlanKind::InspectRun,
                format!(
                    "{} run '{}' in {} {} on {}{}",
                    a.kind.as_deref().unwrap_or("a"),
                    a.run_name,
                    e.name,
                    a.reason,
                    date(a.end_time.unwrap_or(a.start_time)),
                    a.error
                        .as_deref()
                        .map(|x| format!(": {}", first_line(x)))
                        .unwrap_or_default()
                ),
                format!("whet run show {}", short(&a.run_id)),
            );
            s.experiment = Some(e.name.clone());
            s.run_id = Some(a.run_id.clone());
            steps.push(s);
        }
        if own.len() > PLAN_RUNS_PER_EXPERIMENT {
            let mut s = step(
                PlanKind::InspectRun,
                format!(
                    "{} runs failed or were killed in {} since {}",
                    own.len(),
                    e.name,
                    r.window.since
                ),
                format!(
                    "whet runs -e {exp} -f \"attributes.status != 'FINISHED' and \
                     attributes.start_time >= {}\"",
                    r.window.start_time
                ),
            );
            s.experiment = Some(e.name.clone());
            steps.push(s);
        }
        for a in e.attention.iter().filter(|a| a.failed_trials.is_some()) {
            let n = a.failed_trials.unwrap_or(0);
            let mut s = step(
                PlanKind::InspectTrials,
                format!(
                    "study '{}' in {} has {n} failed trial{}",
                    a.run_name,
                    e.name,
                    if n == 1 { "" } else { "s" }
                ),
                format!(
                    "whet runs -e {exp} -f \"attributes.parent_run_id = '{}' and \
                     attributes.status = 'FAILED'\"",
                    a.run_id
                ),
            );
            s.experiment = Some(e.name.clone());
            s.run_id = Some(a.run_id.clone());
            steps.push(s);
        }
    }
    // Stable: within a kind, models and experiments keep their (sorted) order.
    steps.sort_by_key(|s| s.kind);
    steps
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}
