//! The trial queue's own overhead, without fitting: one study of `--tasks` tasks, drained by
//! `--workers` threads (each with its own store handle, as separate `whet worker` processes
//! have), each storing a result of `--result-bytes` and claiming the next in one call, as
//! `whet worker` does. Prints one JSON document: the queue time per task (p50, p95, mean), per
//! trial of 5 tasks (its folds: the calls that claimed them, each also storing the result the
//! worker held) and the tasks per second. `--two-calls` stores each result and claims the next task in two
//! calls instead, for comparison. `--fit-ms N` has each worker sleep N ms between calls, as
//! if fitting the fold on another machine; without it the workers call back to back and the
//! figures are those of a saturated queue. Used by bench/queue_overhead.sh.
//!
//! cargo run -p whet-track --example queue_bench -- --store postgres://…|http://… \
//!     [--workers 8 --tasks 2000 --result-bytes 4096 --fit-ms 0] [--two-calls]

use std::sync::Arc;
use std::time::{Duration, Instant};

use whet_track::{Completion, NewTask, QueueStudy, Store};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn num(args: &[String], name: &str, default: usize) -> usize {
    arg(args, name, &default.to_string())
        .parse()
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let spec = arg(&args, "--store", "");
    if spec.is_empty() {
        return Err("--store postgres://… or http://… is required".into());
    }
    let workers = num(&args, "--workers", 8);
    let n = num(&args, "--tasks", 2000);
    let result_bytes = num(&args, "--result-bytes", 4096);
    let two_calls = args.iter().any(|a| a == "--two-calls");
    // A fold's fit, as a sleep: workers on other machines use no CPU here, and the queue is
    // then measured as a study uses it rather than saturated by back-to-back calls.
    let fit = Duration::from_millis(num(&args, "--fit-ms", 0) as u64);

    let store = Store::open(&spec)?;
    let exp = store.get_or_create_experiment("queue-bench")?;
    let study_id = format!("bench-{}", std::process::id());
    store.queue_create_study(&QueueStudy {
        study_id: study_id.clone(),
        experiment_id: exp,
        run_id: study_id.clone(),
        recipe: "{}".into(),
        data_sha256: "0".repeat(64),
        state: "open".into(),
    })?;
    let tasks: Vec<NewTask> = (0..n as i64)
        .map(|i| NewTask {
            trial: i / 5,
            fold: i % 5,
            spec: "{}".into(),
        })
        .collect();
    for chunk in tasks.chunks(500) {
        store.queue_enqueue(&study_id, exp, chunk)?;
    }

    let spec = Arc::new(spec);
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let spec = Arc::clone(&spec);
            std::thread::spawn(move || -> Result<Vec<(Option<i64>, Duration)>, String> {
                let store = Store::open(&spec).map_err(|e| e.to_string())?;
                let owner = format!("bench {w}");
                let lease = Duration::from_secs(60);
                let mut times = Vec::new();
                let mut pending: Option<Completion> = None;
                loop {
                    let t0 = Instant::now();
                    let claimed = if two_calls {
                        if let Some(p) = pending.take() {
                            store
                                .queue_complete(p.key, p.attempt, &p.result)
                                .map_err(|e| e.to_string())?;
                        }
                        store.queue_claim(&owner, Some(exp), lease)
                    } else {
                        store
                            .queue_claim_next(pending.as_ref(), &owner, Some(exp), lease)
                            .map(|r| r.1)
                    }
                    .map_err(|e| e.to_string())?;
                    times.push((claimed.as_ref().map(|t| t.trial), t0.elapsed()));
                    let Some(task) = claimed else { break };
                    pending = Some(Completion {
                        key: task.key,
                        attempt: task.attempt,
                        result: vec![(task.key % 251) as u8; result_bytes],
                    });
                    if !fit.is_zero() {
                        std::thread::sleep(fit);
                    }
                }
                Ok(times)
            })
        })
        .collect();
    let mut times = Vec::new();
    for h in handles {
        times.extend(h.join().map_err(|_| "a worker thread panicked")??);
    }
    let wall = started.elapsed().as_secs_f64();
    let counts = store.queue_counts(Some(&study_id))?;
    store.queue_close_study(&study_id)?;
    let mut per_trial = std::collections::BTreeMap::<i64, Duration>::new();
    for (trial, d) in &times {
        if let Some(t) = trial {
            *per_trial.entry(*t).or_default() += *d;
        }
    }
    let mut trial_times: Vec<Duration> = per_trial.into_values().collect();
    trial_times.sort();
    let mut times: Vec<Duration> = times.into_iter().map(|(_, d)| d).collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pct = |v: &[Duration], p: f64| ms(v[((v.len() - 1) as f64 * p).round() as usize]);
    let mean = |v: &[Duration]| v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64;
    println!(
        "{}",
        serde_json::json!({
            "store": store.location(),
            "workers": workers,
            "calls_per_task": if two_calls { 2 } else { 1 },
            "fit_ms": fit.as_millis() as u64,
            "tasks": n,
            "done": counts.done,
            "result_bytes": result_bytes,
            "calls": times.len(),
            "call_ms_p50": pct(&times, 0.5),
            "call_ms_p95": pct(&times, 0.95),
            "call_ms_mean": mean(&times),
            "trial_ms_p50": pct(&trial_times, 0.5),
            "trial_ms_p95": pct(&trial_times, 0.95),
            "trial_ms_mean": mean(&trial_times),
            "wall_s": wall,
            "tasks_per_s": n as f64 / wall,
        })
    );
    if counts.done != n as i64 {
        return Err(format!("{} of {n} tasks done", counts.done).into());
    }
    Ok(())
}
