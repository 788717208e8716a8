//! Times loading a model file (read, decompress, decode) the way `whet predict` and a server
//! start do: `cargo run --release -p whet-learn --example model_load -- MODEL [REPEATS]`.
//! Prints the file size, the decoded size and the median / min / max load time.

use std::time::Instant;

use whet_learn::model::Model;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        return Err("usage: model_load MODEL [REPEATS]".into());
    };
    let repeats: usize = args.get(2).map_or(Ok(21), |r| r.parse())?;
    let mut times = Vec::with_capacity(repeats);
    let mut file_bytes = 0;
    let mut decoded_bytes = 0;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let bytes = std::fs::read(path)?;
        let model = Model::from_bytes(&bytes, path)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        file_bytes = bytes.len();
        decoded_bytes = model.encoded()?.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{path}: file {:.2} MB, decoded {:.2} MB; load (read + decompress + decode) median {:.1} ms, min {:.1} ms, max {:.1} ms over {} loads",
        file_bytes as f64 / 1e6,
        decoded_bytes as f64 / 1e6,
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        times.len()
    );
    Ok(())
}
