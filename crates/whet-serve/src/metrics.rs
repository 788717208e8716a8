//! The scoring server's counters, rendered in Prometheus' text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Request latency bucket bounds, seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Default)]
struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: Vec<f64>) -> Histogram {
        Histogram {
            counts: vec![0; bounds.len()],
            bounds,
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        // Cumulative buckets: only the first bound at or above v is counted here; rendering
        // accumulates.
        if let Some(i) = self.bounds.iter().position(|&b| v <= b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut acc = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            acc += c;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {acc}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    /// (endpoint, status) -> requests.
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    rows: u64,
    /// Distribution of the first prediction output (value, or positive-class probability).
    predictions: Option<Histogram>,
    reloads_ok: u64,
    reloads_failed: u64,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Sets the prediction histogram's bounds (from the model's reference profile).
    pub fn set_prediction_buckets(&self, mut bounds: Vec<f64>) {
        bounds.retain(|b| b.is_finite());
        bounds.dedup();
        if let Ok(mut m) = self.inner.lock() {
            m.predictions = Some(Histogram::new(bounds));
        }
    }

    pub fn request(&self, endpoint: &str, status: u16, seconds: f64) {
        if let Ok(mut m) = self.inner.lock() {
            *m.requests
                .entry((endpoint.to_string(), status))
                .or_default() += 1;
            m.latency
                .entry(endpoint.to_string())
                .or_insert_with(|| Histogram::new(LATENCY_BUCKETS.to_vec()))
                .observe(seconds);
        }
    }

    pub fn scored(&self, first_output: impl Iterator<Item = f64>) {
        if let Ok(mut m) = self.inner.lock() {
            let mut n = 0;
            for v in first_output {
                n += 1;
                if let Some(h) = m.predictions.as_mut() {
                    h.observe(v);
                }
            }
            m.rows += n;
        }
    }

    pub fn reload(&self, ok: bool) {
        if let Ok(mut m) = self.inner.lock() {
            if ok {
                m.reloads_ok += 1;
            } else {
                m.reloads_failed += 1;
            }
        }
    }

    pub fn render(&self, model_labels: &str, prediction_name: &str) -> String {
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else {
            return out;
        };
        out.push_str(
            "# HELP whet_model_info The model being served.\n# TYPE whet_model_info gauge\n",
        );
        let _ = writeln!(out, "whet_model_info{{{model_labels}}} 1");
        out.push_str("# HELP whet_requests_total Requests by endpoint and HTTP status.\n# TYPE whet_requests_total counter\n");
        for ((endpoint, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "whet_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP whet_request_duration_seconds Request latency.\n# TYPE whet_request_duration_seconds histogram\n");
        for (endpoint, h) in &m.latency {
            h.render(
                &mut out,
                "whet_request_duration_seconds",
                &format!("endpoint=\"{endpoint}\""),
            );
        }
        out.push_str(
            "# HELP whet_rows_scored_total Rows scored.\n# TYPE whet_rows_scored_total counter\n",
        );
        let _ = writeln!(out, "whet_rows_scored_total {}", m.rows);
        if let Some(h) = &m.predictions {
            out.push_str("# HELP whet_prediction Distribution of the model's output (the value, or the positive class's probability).\n# TYPE whet_prediction histogram\n");
            h.render(
                &mut out,
                "whet_prediction",
                &format!("output=\"{}\"", prediction_name.replace('"', "'")),
            );
        }
        out.push_str("# HELP whet_model_reloads_total Model versions loaded after an alias moved, by result.\n# TYPE whet_model_reloads_total counter\n");
        let _ = writeln!(
            out,
            "whet_model_reloads_total{{result=\"ok\"}} {}",
            m.reloads_ok
        );
        let _ = writeln!(
            out,
            "whet_model_reloads_total{{result=\"failed\"}} {}",
            m.reloads_failed
        );
        out
    }
}
