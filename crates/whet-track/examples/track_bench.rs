//! whet's side of bench/track_vs_mlflow.sh: ingest through the blocking Rust API, then the
//! latency of a metric-filter search. Prints one JSON document.
//!
//! cargo run --release -p whet-track --example track_bench -- \
//!     --store /tmp/bench.db [--runs 1000 --metrics 50 --steps 100] [--search-runs 20000 --queries 200]

use std::time::Instant;

use whet_track::{Metric, NewRun, RunStatus, SearchRuns, Store};

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

/// Deterministic values in [0, 1) so both sides of the benchmark see the same data.
fn unit(i: u64) -> f64 {
    let mut x = i
        .wrapping_mul(0x9E3779B97F4A7C15)
        .wrapping_add(0x632BE59BD9B4E019);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58476D1CE4E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let store_path = arg(&args, "--store", "/tmp/whet-track-bench.db");
    let runs = num(&args, "--runs", 1000);
    let metrics = num(&args, "--metrics", 50);
    let steps = num(&args, "--steps", 100);
    let search_runs = num(&args, "--search-runs", 20_000);
    let queries = num(&args, "--queries", 200);
    let max_results = num(&args, "--max-results", 100);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{store_path}{suffix}"));
    }
    let store = Store::open(&store_path)?;

    // Ingest: each run's 50 × 100 points in one batch, as a training loop would flush them.
    let exp = store.get_or_create_experiment("ingest")?;
    let keys: Vec<String> = (0..metrics).map(|m| format!("metric_{m}")).collect();
    let t0 = Instant::now();
    for r in 0..runs {
        let run = store.start_run(&NewRun {
            experiment: exp,
            name: format!("run {r}"),
            ..Default::default()
        })?;
        store.log_params(
            &run,
            &[
                ("learner".into(), "gbdt".into()),
                ("run".into(), r.to_string()),
            ],
        )?;
        let mut batch = Vec::with_capacity(metrics * steps);
        for step in 0..steps {
            for key in &keys {
                batch.push(Metric {
                    key: key.clone(),
                    value: unit((r * metrics * steps + batch.len()) as u64),
                    step: step as i64,
                    timestamp_ms: 1_700_000_000_000 + step as i64,
                });
            }
        }
        store.log_metrics(&run, &batch)?;
        store.end_run(&run, RunStatus::Finished)?;
    }
    let ingest_s = t0.elapsed().as_secs_f64();
    let points = runs * metrics * steps;

    // Search: 20,000 runs with a few metrics, params and tags each.
    let sexp = store.get_or_create_experiment("search")?;
    let t1 = Instant::now();
    for r in 0..search_runs {
        let run = store.start_run(&NewRun {
            experiment: sexp,
            name: format!("s{r}"),
            ..Default::default()
        })?;
        store.log_params(
            &run,
            &[
                ("learner".into(), ["gbdt", "linear", "knn"][r % 3].into()),
                ("seed".into(), (r % 10).to_string()),
            ],
        )?;
        store.log_metrics(
            &run,
            &[
                Metric::new("auc", unit(r as u64), 0),
                Metric::new("logloss", unit(r as u64 + 1_000_000), 0),
                Metric::new("rmse", unit(r as u64 + 2_000_000), 0),
            ],
        )?;
        store.end_run(&run, RunStatus::Finished)?;
    }
    let populate_s = t1.elapsed().as_secs_f64();
    let filter = "metrics.auc > 0.9";
    let mut lat = Vec::with_capacity(queries);
    let mut hits = 0;
    for _ in 0..queries {
        let t = Instant::now();
        let page = store.search_runs(&SearchRuns {
            experiments: vec![sexp],
            filter: filter.into(),
            max_results,
            ..Default::default()
        })?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        hits = page.items.len();
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    // The same search ordered by the metric, which has to look at every match.
    let mut lat_sorted = Vec::with_capacity(queries);
    for _ in 0..queries {
        let t = Instant::now();
        store.search_runs(&SearchRuns {
            experiments: vec![sexp],
            filter: filter.into(),
            order_by: vec!["metrics.auc DESC".into()],
            max_results,
            ..Default::default()
        })?;
        lat_sorted.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat_sorted.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{{\"runs\": {runs}, \"metrics\": {metrics}, \"steps\": {steps}, \"points\": {points}, \
         \"ingest_seconds\": {ingest_s:.3}, \"points_per_second\": {:.0}, \
         \"search_runs\": {search_runs}, \"populate_seconds\": {populate_s:.3}, \"filter\": \"{filter}\", \
         \"max_results\": {max_results}, \"hits\": {hits}, \"queries\": {queries}, \
         \"search_p50_ms\": {:.3}, \"search_p95_ms\": {:.3}, \
         \"sorted_search_p50_ms\": {:.3}, \"sorted_search_p95_ms\": {:.3}}}",
        points as f64 / ingest_s,
        percentile(&lat, 0.5),
        percentile(&lat, 0.95),
        percentile(&lat_sorted, 0.5),
        percentile(&lat_sorted, 0.95),
    );
    Ok(())
}
