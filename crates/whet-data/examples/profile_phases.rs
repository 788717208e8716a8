//! Where `whet profile` spends its time, phase by phase, on one file:
//!
//!     cargo run --release -p whet-data --example profile_phases -- FILE [RUNS]
//!
//! Prints the median of RUNS (default 5) for loading, summarising every column, and the
//! whole profile (summaries, roles, warnings, duplicate rows).

use std::path::PathBuf;
use std::time::Instant;

use whet_data::csv::NoProgress;
use whet_data::profile::{ProfileOptions, profile};
use whet_data::summary::summarize_table;
use whet_data::{LoadOptions, load};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().ok_or("usage: profile_phases FILE [RUNS]")?);
    let runs: usize = args.next().map_or(Ok(5), |r| r.parse())?;
    let (mut load_s, mut summary_s, mut profile_s) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let table = load(&path, &LoadOptions::default(), &NoProgress)?;
        load_s.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let summaries = summarize_table(&table);
        summary_s.push(t.elapsed().as_secs_f64());
        std::hint::black_box(summaries);
        let t = Instant::now();
        let p = profile(&table, &ProfileOptions::default(), None)?;
        profile_s.push(t.elapsed().as_secs_f64());
        std::hint::black_box(p);
    }
    println!(
        "load {:.3} s   summaries {:.3} s   profile {:.3} s   (median of {runs}, {} threads)",
        median(load_s),
        median(summary_s),
        median(profile_s),
        rayon::current_num_threads()
    );
    Ok(())
}
