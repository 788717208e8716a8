//! Distributed trials: `whet train --workers remote` (the submitter's side: upload the data,
//! record the study, hand each trial's folds to the queue, wait for them) and `whet worker`
//! (claim, fit, give the result back). The queue is whet-track's (`core/queue.rs`), in the
//! PostgreSQL database directly or through a `whet server` on one; what travels through it is
//! whet-automl's (`remote.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use whet_automl::remote::{
    FINAL_STAGE_TRIAL, FinalOutcome, FinalTask, decode_result, encode_result,
};
use whet_automl::trial::{FoldError, FoldResult};
use whet_automl::{AutomlError, FoldExecutor, FoldTask, PreparedStudy, Study, StudyRecipe};
use whet_data::Table;
use whet_track::remote::api::queue_data_artifact;
use whet_track::{
    ArtifactSource, Completion, ExperimentId, NewTask, QueueEvent, QueueListener, QueueStudy,
    Store, TaskState,
};

/// How long a store call is retried while the database cannot be reached.
const PATIENCE: Duration = Duration::from_secs(120);

/// What went away when a store error may pass: the database (restarting, a dropped
/// connection), or the whet server (unreachable, or answering that it is busy or restarting
/// behind a proxy). None for errors that another try cannot cure (a refused token, bad input).
fn transient(e: &whet_track::Error) -> Option<&'static str> {
    use whet_track::Error as E;
    match e {
        E::Db { .. } | E::Open { .. } | E::Locked { .. } => Some("the database"),
        E::Unreachable { .. } => Some("the server"),
        E::Remote {
            status: 502..=504, ..
        } => Some("the server"),
        _ => None,
    }
}

/// Runs a store call, retrying for up to [`PATIENCE`] while the database (or the server) is
/// unreachable; says once that it lost it and once that it is back.
fn retry<T>(quiet: bool, what: &str, mut f: impl FnMut() -> whet_track::Result<T>) -> Result<T> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(100);
    let mut lost: Option<&'static str> = None;
    loop {
        match f() {
            Ok(v) => {
                if let Some(noun) = lost
                    && !quiet
                {
                    eprintln!("note: {noun} is back ({what})");
                }
                return Ok(v);
            }
            Err(e) if transient(&e).is_some() && started.elapsed() < PATIENCE => {
                if lost.is_none() && !quiet {
                    eprintln!(
                        "warning: lost {} while trying to {what}: {e}; retrying",
                        transient(&e).unwrap_or("the store")
                    );
                }
                lost = lost.or(transient(&e));
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(anyhow!(e).context(format!("cannot {what}"))),
        }
    }
}

/// Refuses a store the queue cannot live in, before any data is read.
pub fn check_queue_store(store: &Store) -> Result<()> {
    if store.is_remote() && !store.is_postgres() {
        return Err(crate::exit::usage(format!(
            "--workers remote needs a store on PostgreSQL that every worker can reach; the whet server at {} runs on SQLite\nhint: start the server on PostgreSQL (whet server --store postgres://USER@HOST/DB), or leave out --workers remote to train on this machine",
            store.location()
        )));
    }
    if !store.is_postgres() {
        return Err(crate::exit::usage(format!(
            "--workers remote needs a PostgreSQL store that every worker can reach; {} is SQLite\nhint: --store postgres://USER@HOST/DB (or leave out --workers remote to train on this machine)",
            store.location()
        )));
    }
    Ok(())
}

/// The submitter's side of a distributed study: the data uploaded, the study recorded, and
/// the queue every trial's folds go through.
pub struct QueueExecutor<'s> {
    store: &'s Store,
    study_id: String,
    experiment: ExperimentId,
    /// Task keys of the folds queued and not yet consumed or cancelled, by (trial, fold).
    keys: BTreeMap<(usize, usize), i64>,
    /// Worker errors already reported, by (task key, attempts).
    reported: BTreeSet<(i64, i64)>,
    quiet: bool,
    /// `--final-on worker`: the final stage's fits go to a worker too.
    final_on_worker: bool,
    /// Results announced by the database (PostgreSQL's LISTEN; None through a server, or
    /// after the listener failed): the wait sleeps until one comes instead of polling.
    listener: Option<QueueListener>,
    /// Keys whose results were announced and not yet read.
    announced: HashSet<i64>,
    /// When to try listening again after the listener failed.
    relisten_at: Option<Instant>,
}

impl<'s> QueueExecutor<'s> {
    /// Uploads `table` (Parquet; stored once per content) and records the study.
    pub fn start(
        store: &'s Store,
        experiment: ExperimentId,
        run_id: &str,
        prepared: &PreparedStudy,
        table: &Table,
        final_on_worker: bool,
        quiet: bool,
    ) -> Result<QueueExecutor<'s>> {
        let bytes =
            whet_data::sink::parquet_bytes(table.batch.schema(), table.batch.columns().to_vec())
                .context("cannot write the training data as Parquet for the workers")?;
        // Through a server the data goes through its artifact proxy, as an artifact of the
        // study run named by its sha256: workers need only the server's URL to fetch it.
        let sha = if store.is_remote() {
            let sha = whet_track::content_sha256(&bytes);
            retry(quiet, "upload the training data", || {
                store.log_artifact(
                    run_id,
                    &queue_data_artifact(&sha),
                    ArtifactSource::Bytes(&bytes),
                )
            })?;
            sha
        } else {
            retry(quiet, "upload the training data", || {
                store.queue_put_data(&bytes)
            })?
        };
        let recipe = StudyRecipe::new(prepared, table);
        let study_id = run_id.to_string();
        let study = QueueStudy {
            study_id: study_id.clone(),
            experiment_id: experiment,
            run_id: run_id.to_string(),
            recipe: recipe.to_json(),
            data_sha256: sha.clone(),
            state: "open".into(),
        };
        retry(quiet, "record the distributed study", || {
            store.queue_create_study(&study)
        })?;
        if !quiet {
            eprintln!(
                "distributed study {study_id}: data sha256:{} ({} bytes) uploaded; start workers with `whet worker --store URL`",
                &sha[..12],
                bytes.len()
            );
        }
        // Listening starts before the first task is queued, so no result goes unannounced.
        let listener = match store.queue_listen(QueueEvent::Result) {
            Ok(l) => l,
            Err(e) => {
                if !quiet {
                    eprintln!(
                        "warning: cannot listen for results ({e}); polling the queue instead"
                    );
                }
                None
            }
        };
        Ok(QueueExecutor {
            store,
            study_id,
            experiment,
            keys: BTreeMap::new(),
            reported: BTreeSet::new(),
            quiet,
            final_on_worker,
            listener,
            announced: HashSet::new(),
            relisten_at: None,
        })
    }

    /// Cancels whatever the study still has queued and marks it closed.
    pub fn close(&self) -> Result<()> {
        retry(self.quiet, "close the distributed study", || {
            self.store.queue_close_study(&self.study_id)
        })
    }
}

fn queue_err(e: anyhow::Error) -> AutomlError {
    AutomlError::Queue(format!("{e:#}"))
}

impl FoldExecutor for QueueExecutor<'_> {
    fn submit(&mut self, tasks: Vec<FoldTask>) -> whet_automl::Result<()> {
        let new: Vec<NewTask> = tasks
            .iter()
            .map(|t| NewTask {
                trial: t.trial as i64,
                fold: t.fold as i64,
                spec: t.to_json(),
            })
            .collect();
        let keys = retry(self.quiet, "queue a trial", || {
            self.store
                .queue_enqueue(&self.study_id, self.experiment, &new)
        })
        .map_err(queue_err)?;
        for (t, k) in tasks.iter().zip(keys) {
            self.keys.insert((t.trial, t.fold), k);
        }
        Ok(())
    }

    fn wait(
        &mut self,
        trial: usize,
        fold: usize,
        deadline: Option<Instant>,
    ) -> whet_automl::Result<std::result::Result<FoldResult, FoldError>> {
        let key = *self.keys.get(&(trial, fold)).ok_or_else(|| {
            AutomlError::Queue(format!("fold {fold} of trial {trial} was never queued"))
        })?;
        let what = format!("fold {fold} of trial {}", trial + 1);
        match self.await_done(key, &what, deadline)? {
            Some(result) => {
                self.keys.remove(&(trial, fold));
                decode_result(&result)
            }
            None => Ok(Err(FoldError::Interrupted)),
        }
    }

    fn cancel(&mut self, trial: usize) -> whet_automl::Result<()> {
        let keys: Vec<i64> = self
            .keys
            .range((trial, 0)..(trial + 1, 0))
            .map(|(_, &k)| k)
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        retry(self.quiet, "cancel a trial's remaining folds", || {
            self.store.queue_cancel(&keys)
        })
        .map_err(queue_err)?;
        self.keys.retain(|&(t, _), _| t != trial);
        for k in &keys {
            self.announced.remove(k);
        }
        Ok(())
    }

    fn final_stage(&mut self, task: &FinalTask) -> whet_automl::Result<Option<FinalOutcome>> {
        if !self.final_on_worker {
            return Ok(None);
        }
        let new = [NewTask {
            trial: FINAL_STAGE_TRIAL as i64,
            fold: 0,
            spec: task.to_json(),
        }];
        let key = retry(self.quiet, "queue the final stage", || {
            self.store
                .queue_enqueue(&self.study_id, self.experiment, &new)
        })
        .map_err(queue_err)?
        .into_iter()
        .next()
        .ok_or_else(|| AutomlError::Queue("the final stage was not queued".into()))?;
        if !self.quiet {
            eprintln!("final stage queued for a worker (--final-on worker)");
        }
        // A worker keeps the stage's own deadline; past it (and a minute's grace for the
        // refit under way) the bag is built here instead.
        let patience = task.deadline_unix_ms.map(|ms| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            Instant::now() + Duration::from_millis((ms - now).max(0) as u64 + 60_000)
        });
        match self.await_done(key, "the final stage", patience)? {
            Some(result) => FinalOutcome::decode(&result).map(Some),
            None => {
                let _ = self.store.queue_cancel(&[key]);
                Ok(None)
            }
        }
    }
}

impl QueueExecutor<'_> {
    /// The result bytes of task `key` once a worker stored them; None on a stop request or
    /// once `deadline` passes.
    fn await_done(
        &mut self,
        key: i64,
        what: &str,
        deadline: Option<Instant>,
    ) -> whet_automl::Result<Option<Vec<u8>>> {
        // Without a listener: poll fast at first (most results of small trials come within
        // milliseconds of each other), then back off, but to no more than 20 ms: every poll
        // is one indexed read, and on small data a slower poll would cost more than a fold.
        // With one, the state is read when the key is announced, and every
        // `UNANNOUNCED_POLL` in case an announcement was lost (a dropped connection).
        const UNANNOUNCED_POLL: Duration = Duration::from_millis(250);
        // How often a wait looks at the stop request and the deadline.
        const STOP_CHECK: Duration = Duration::from_millis(100);
        let mut pause = Duration::from_millis(2);
        let mut last_read: Option<Instant> = None;
        loop {
            if whet_learn::stop::stop_requested() || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            self.relisten();
            let due = self.listener.is_none()
                || self.announced.remove(&key)
                || last_read.is_none_or(|t| t.elapsed() >= UNANNOUNCED_POLL);
            if !due {
                self.listen(
                    UNANNOUNCED_POLL
                        .saturating_sub(last_read.map_or(Duration::ZERO, |t| t.elapsed()))
                        .min(STOP_CHECK)
                        .min(
                            deadline.map_or(STOP_CHECK, |d| {
                                d.saturating_duration_since(Instant::now())
                            }),
                        ),
                );
                continue;
            }
            last_read = Some(Instant::now());
            let state = retry(self.quiet, "read a trial's state", || {
                self.store.queue_task_state(key)
            })
            .map_err(queue_err)?;
            match state {
                TaskState::Done { result, .. } => return Ok(Some(result)),
                TaskState::Cancelled => {
                    return Err(AutomlError::Queue(format!(
                        "{what} was cancelled in the queue while the study waited for it (was the study closed by hand?)"
                    )));
                }
                TaskState::Queued {
                    attempts,
                    last_error: Some(e),
                }
                | TaskState::Running {
                    attempts,
                    last_error: Some(e),
                    ..
                } if !self.quiet && self.reported.insert((key, attempts)) => {
                    eprintln!("warning: a worker gave back {what} (it stays queued): {e}");
                }
                _ => {}
            }
            if self.listener.is_none() {
                std::thread::sleep(pause);
                pause = (pause * 3 / 2).min(Duration::from_millis(20));
            }
        }
    }

    /// Waits up to `timeout` for announced results. A listener that fails (the database
    /// went away) is dropped: the waits poll, as through a server, until
    /// [`QueueExecutor::relisten`] gets a new one.
    fn listen(&mut self, timeout: Duration) {
        let Some(listener) = self.listener.as_mut() else {
            return;
        };
        match self.store.queue_wait(listener, timeout) {
            Ok(events) => self.announced.extend(
                events
                    .into_iter()
                    .filter(|(study, _)| *study == self.study_id)
                    .map(|(_, key)| key),
            ),
            Err(e) => {
                if !self.quiet {
                    eprintln!(
                        "warning: stopped listening for results ({e}); polling the queue until listening works again"
                    );
                }
                self.listener = None;
                self.relisten_at = Some(Instant::now() + Duration::from_secs(5));
            }
        }
    }

    /// Listens again once a failed listener's pause is over (the database is back).
    fn relisten(&mut self) {
        if self.listener.is_some() || self.relisten_at.is_none_or(|t| Instant::now() < t) {
            return;
        }
        match self.store.queue_listen(QueueEvent::Result) {
            Ok(l) => {
                self.listener = l;
                self.relisten_at = None;
            }
            Err(_) => self.relisten_at = Some(Instant::now() + Duration::from_secs(5)),
        }
    }
}

#[derive(Args)]
pub struct WorkerArgs {
    /// Serve only the studies of this experiment (default: every study in the queue).
    #[arg(long)]
    pub experiment: Option<String>,
    /// Exit when the queue is empty instead of waiting for work (batch schedulers).
    #[arg(long)]
    pub once: bool,
    /// How long a claimed trial stays this worker's without a heartbeat; a worker that dies
    /// loses its trial to another after this long.
    #[arg(long, default_value = "30s", value_parser = whet_automl::budget::parse_duration)]
    pub lease: Duration,
    /// Where fetched training data is cached (default: $XDG_CACHE_HOME/whet/data, else
    /// ~/.cache/whet/data).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

fn cache_dir(flag: Option<&PathBuf>) -> PathBuf {
    if let Some(d) = flag {
        return d.clone();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("whet").join("data")
}

/// What a worker keeps between trials: the prepared studies it served last.
struct Prepared {
    studies: HashMap<String, Arc<PreparedStudy>>,
    order: Vec<String>,
}

impl Prepared {
    /// At most two studies in memory: a queue shared by studies interleaves them.
    const KEEP: usize = 2;
}

fn prepare_study(
    store: &Store,
    study_id: &str,
    cache: &std::path::Path,
    quiet: bool,
) -> Result<PreparedStudy> {
    let study = retry(quiet, "read the distributed study", || {
        store.queue_study(study_id)
    })?;
    let recipe = StudyRecipe::from_json(&study.recipe)?;
    let path = cache.join(format!("{}.parquet", study.data_sha256));
    let cached = std::fs::read(&path)
        .ok()
        .filter(|b| whet_track::content_sha256(b) == study.data_sha256);
    if cached.is_none() {
        let bytes = fetch_data(store, &study, quiet)
            .with_context(|| format!("study {study_id} ({})", recipe.data_name))?;
        std::fs::create_dir_all(cache)
            .with_context(|| format!("cannot create the data cache {}", cache.display()))?;
        whet_data::fsutil::write_atomic(&path, &bytes)
            .with_context(|| format!("cannot cache the training data in {}", path.display()))?;
    }
    let options = whet_data::LoadOptions {
        csv: Default::default(),
        types: recipe.load_hints(),
        types_optional: false,
    };
    let table = whet_data::load(&path, &options, &whet_data::csv::NoProgress)
        .with_context(|| format!("cannot read the cached training data {}", path.display()))?;
    let prepared = Study::prepare(recipe.spec()?, table, &mut whet_automl::NoObserver)?;
    let digest = prepared.problem_digest();
    if digest != recipe.digest {
        bail!(
            "this worker prepares study {study_id} differently from its submitter (problem digest {digest}, expected {})\nhint: run workers of the submitter's whet version",
            recipe.digest
        );
    }
    Ok(prepared)
}

/// A study's training data: from the database's queue table, or through a server from the
/// study run's artifact (checked against the sha256 the server recorded, then against the
/// study's). A study submitted through a server and served by a worker on the database
/// directly finds its data as the run's artifact where that worker can read the artifact root.
fn fetch_data(store: &Store, study: &QueueStudy, quiet: bool) -> Result<Vec<u8>> {
    let artifact = queue_data_artifact(&study.data_sha256);
    let bytes = if store.is_remote() {
        retry(quiet, "fetch the training data", || {
            store.read_artifact(&study.run_id, &artifact)
        })?
    } else {
        match retry(quiet, "fetch the training data", || {
            store.queue_data(&study.data_sha256)
        }) {
            Ok(b) => b,
            Err(e) => match store.read_artifact(&study.run_id, &artifact) {
                Ok(b) => b,
                Err(_) => return Err(e),
            },
        }
    };
    let got = whet_track::content_sha256(&bytes);
    if got != study.data_sha256 {
        bail!(
            "training data sha256:{} does not match its content (sha256:{got}, {} bytes); submit the study again to upload it afresh",
            study.data_sha256,
            bytes.len()
        );
    }
    Ok(bytes)
}

pub fn cmd_worker(args: &WorkerArgs, store_flag: Option<&str>, quiet: bool) -> Result<()> {
    let store = Store::open_default(store_flag)?;
    if !store.is_postgres() {
        return Err(crate::exit::usage(format!(
            "whet worker needs the PostgreSQL store distributed studies are queued in; {} is {}\nhint: --store postgres://USER@HOST/DB or http://HOST:PORT (a whet server on it), the store whet train --workers remote was given",
            store.location(),
            if store.is_remote() {
                "a whet server on SQLite"
            } else {
                "SQLite"
            }
        )));
    }
    let experiment = match &args.experiment {
        Some(name) => Some(
            store
                .experiment_by_name(name)?
                .ok_or_else(|| {
                    crate::exit::usage(format!(
                        "no experiment '{name}' in {}\nhint: name the experiment of a submitted study (whet train --experiment)",
                        store.location()
                    ))
                })?
                .experiment_id,
        ),
        None => None,
    };
    let lease = args.lease.max(Duration::from_secs(1));
    let cache = cache_dir(args.cache.as_ref());
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    let owner = format!("{host} pid {}", std::process::id());
    if !quiet {
        eprintln!(
            "whet worker {owner}: serving {} on {} ({} threads, lease {}s)",
            args.experiment
                .as_deref()
                .map_or("every study".to_string(), |e| format!("experiment '{e}'")),
            store.location(),
            rayon::current_num_threads(),
            lease.as_secs_f64()
        );
    }
    // The task being fitted, for the thread that hears cancellations.
    let fitting: Mutex<Option<(String, i64)>> = Mutex::new(None);
    let exiting = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| watch_cancellations(&store, &fitting, &exiting));
        let served = (|| -> Result<()> {
            let mut prepared = Prepared {
                studies: HashMap::new(),
                order: Vec::new(),
            };
            let mut done = 0usize;
            // Folds abandoned mid-fit because their task was cancelled.
            let mut stopped = 0usize;
            // Time spent in the queue per fold handled (claims that got a task or stored a result),
            // reported at exit: the queue's overhead, as bench/workers.sh measures it.
            let mut queue_time = Duration::ZERO;
            let mut idle = Duration::from_millis(5);
            // Time spent waiting for a task to appear, reported at exit: a busy study's workers
            // should hardly wait.
            let mut idle_time = Duration::ZERO;
            // A fitted fold's result waits here for the next claim, which stores it in the same
            // round trip; it is stored alone when the worker stops.
            let mut pending: Option<Finished> = None;
            while !crate::interrupt::drain_requested() {
                let t0 = Instant::now();
                let (kept, claimed) = retry(quiet, "claim a trial", || {
                    store.queue_claim_next(
                        pending.as_ref().map(|p| &p.completion),
                        &owner,
                        experiment,
                        lease,
                    )
                })?;
                if let Some(p) = pending.take() {
                    p.report(kept.unwrap_or(false), quiet);
                    done += 1;
                }
                if claimed.is_some() || kept.is_some() {
                    queue_time += t0.elapsed();
                }
                let Some(task) = claimed else {
                    if args.once {
                        break;
                    }
                    // An idle worker is usually waiting for the submitter to consume a trial and
                    // propose the next, which takes milliseconds: look again soon.
                    std::thread::sleep(idle);
                    idle_time += idle;
                    idle = (idle * 2).min(Duration::from_millis(50));
                    continue;
                };
                idle = Duration::from_millis(5);
                let ready = match prepared.studies.get(&task.study_id) {
                    Some(s) => Ok(s.clone()),
                    None => prepare_study(&store, &task.study_id, &cache, quiet).map(Arc::new),
                }
                .and_then(|s| {
                    let job = match FinalTask::from_json(&task.spec) {
                        Some(f) => Job::Final(f?),
                        None => Job::Fold(FoldTask::from_json(&task.spec)?),
                    };
                    Ok((s, job))
                });
                let (study, job) = match ready {
                    Ok(r) => r,
                    Err(e) => {
                        let message = format!("{e:#}");
                        retry(quiet, "give a trial back", || {
                            store.queue_release(task.key, task.attempt, &message)
                        })?;
                        if args.once {
                            return Err(e.context(format!(
                                "study {}: {} given back to the queue",
                                task.study_id,
                                task_label(task.trial, task.fold)
                            )));
                        }
                        if !quiet {
                            eprintln!(
                                "error: study {}: {message}\n({} given back to the queue)",
                                task.study_id,
                                task_label(task.trial, task.fold)
                            );
                        }
                        // Other workers (or a repaired study) may take it; do not spin on it.
                        std::thread::sleep(Duration::from_secs(2));
                        continue;
                    }
                };
                if !prepared.studies.contains_key(&task.study_id) {
                    prepared
                        .studies
                        .insert(task.study_id.clone(), study.clone());
                    prepared.order.push(task.study_id.clone());
                    if prepared.order.len() > Prepared::KEEP {
                        let old = prepared.order.remove(0);
                        prepared.studies.remove(&old);
                    }
                }
                let lost = AtomicBool::new(false);
                if let Ok(mut f) = fitting.lock() {
                    *f = Some((task.study_id.clone(), task.key));
                }
                whet_learn::stop::begin_work(task.key as u64);
                let outcome = std::thread::scope(|s| {
                    // Dropping the sender ends the heartbeat at once: the fold's result waits for it.
                    let (finished, on_finish) = std::sync::mpsc::channel::<()>();
                    s.spawn(|| heartbeat(&store, task.key, task.attempt, lease, on_finish, &lost));
                    let r = run_job(&study, &job);
                    drop(finished);
                    r
                });
                let abandoned = whet_learn::stop::work_abandoned();
                whet_learn::stop::begin_work(0);
                if let Ok(mut f) = fitting.lock() {
                    *f = None;
                }
                let (result, summary) = outcome?;
                if abandoned {
                    // Cancelled while being fitted: nobody wants this fold's result.
                    stopped += 1;
                    if !quiet {
                        eprintln!(
                            "{}: stopped: cancelled while being fitted (its trial was pruned, or its study closed)",
                            task_label(task.trial, task.fold)
                        );
                    }
                    continue;
                }
                pending = Some(Finished {
                    completion: Completion {
                        key: task.key,
                        attempt: task.attempt,
                        result,
                    },
                    what: task_label(task.trial, task.fold),
                    study: task.study_id[..8.min(task.study_id.len())].to_string(),
                    summary,
                });
            }
            if let Some(p) = pending.take() {
                let t0 = Instant::now();
                let kept = retry(quiet, "store a trial's result", || {
                    store.queue_complete(
                        p.completion.key,
                        p.completion.attempt,
                        &p.completion.result,
                    )
                })?;
                queue_time += t0.elapsed();
                p.report(kept, quiet);
                done += 1;
            }
            if !quiet {
                eprintln!(
                    "whet worker {owner}: {done} folds fitted, {stopped} stopped when cancelled; queue time {:.2} ms per fold (claim + result); waited {:.1} s for work; exiting",
                    if done > 0 {
                        queue_time.as_secs_f64() * 1e3 / done as f64
                    } else {
                        0.0
                    },
                    idle_time.as_secs_f64()
                );
            }
            Ok(())
        })();
        exiting.store(true, Ordering::SeqCst);
        served
    })
}

/// Hears that the task this worker fits was cancelled (its trial pruned, its study closed)
/// and abandons the fit at once: its result would be thrown away. Through a server, where
/// nothing is announced, the fit runs to its end as before.
fn watch_cancellations(
    store: &Store,
    fitting: &Mutex<Option<(String, i64)>>,
    exiting: &AtomicBool,
) {
    let mut listener: Option<QueueListener> = None;
    let mut retry_at = Instant::now();
    while !exiting.load(Ordering::SeqCst) {
        let Some(l) = listener.as_mut() else {
            if Instant::now() < retry_at {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            match store.queue_listen(QueueEvent::Cancelled) {
                Ok(Some(l)) => listener = Some(l),
                Ok(None) => return,
                // The database is away: the claims' own retries say so; listen again later.
                Err(_) => retry_at = Instant::now() + Duration::from_secs(5),
            }
            continue;
        };
        match store.queue_wait(l, Duration::from_millis(200)) {
            Ok(events) => {
                let current = fitting.lock().ok().and_then(|f| f.clone());
                if let Some((study, key)) = current
                    && events.iter().any(|(s, k)| *s == study && *k == key)
                {
                    whet_learn::stop::abandon_work(key as u64);
                }
            }
            Err(_) => {
                listener = None;
                retry_at = Instant::now() + Duration::from_secs(5);
            }
        }
    }
}

/// What a queued task asks a worker for.
enum Job {
    Fold(FoldTask),
    Final(FinalTask),
}

/// Runs a job: its result bytes and a line saying how it went.
fn run_job(study: &PreparedStudy, job: &Job) -> whet_automl::Result<(Vec<u8>, String)> {
    match job {
        Job::Fold(spec) => {
            let outcome = study.fit_task(spec)?;
            let summary = match &outcome {
                Ok(r) => format!("score {:.5}", r.score),
                Err(FoldError::Failed(m)) => format!("failed: {m}"),
                Err(FoldError::Interrupted) => "out of time".into(),
            };
            Ok((encode_result(&outcome)?, summary))
        }
        Job::Final(spec) => {
            let outcome: FinalOutcome = study.final_task(spec)?;
            let summary = format!(
                "final model: {} of {} member(s)",
                outcome.strategy.name(),
                spec.members.len()
            );
            Ok((outcome.encode()?, summary))
        }
    }
}

/// "trial 3 fold 1", or "the final stage".
fn task_label(trial: i64, fold: i64) -> String {
    if trial == FINAL_STAGE_TRIAL as i64 {
        "the final stage".into()
    } else {
        format!("trial {} fold {fold}", trial + 1)
    }
}

/// A fitted fold whose result is on its way to the queue.
struct Finished {
    completion: Completion,
    /// "trial 3 fold 1" ([`task_label`]).
    what: String,
    /// The study id's first characters, for messages.
    study: String,
    summary: String,
}

impl Finished {
    fn report(&self, kept: bool, quiet: bool) {
        if quiet {
            return;
        }
        if kept {
            eprintln!("{} of study {}: {}", self.what, self.study, self.summary);
        } else {
            eprintln!(
                "{}: result not used: the study no longer needed it (its trial was pruned) or this worker's lease ran out first",
                self.what
            );
        }
    }
}

/// Renews a claim's lease every third of it until the fit ends; a renewal that fails because
/// the database is away is tried again at the next beat (the lease may still hold).
fn heartbeat(
    store: &Store,
    key: i64,
    attempt: i64,
    lease: Duration,
    finished: std::sync::mpsc::Receiver<()>,
    lost: &AtomicBool,
) {
    let beat = lease / 3;
    // Woken the moment the fold is fitted (its sender dropped), not at the next poll: a
    // 20 ms poll here made every fold wait ~10 ms for this thread to end, 15 s over 875 folds
    // of a small study.
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(beat) {
        match store.queue_heartbeat(key, attempt, lease) {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(_) => {}
        }
    }
}
