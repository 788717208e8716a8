//! Small inline SVG charts for the HTML pages: axes with ticks, lines, points, bars and
//! interval whiskers. No scripts, fonts or external files.

use std::fmt::Write;

use whet_data::report::escape;

pub const BLUE: &str = "#2f6db5";
pub const ORANGE: &str = "#d9822b";
pub const RED: &str = "#b3261e";
pub const GREEN: &str = "#2e7d32";
pub const GREY: &str = "#8a94a3";

/// A chart area mapping data coordinates to pixels.
pub struct Chart {
    pub width: f64,
    pub height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    body: String,
}

/// About five round tick values covering [lo, hi].
pub fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

pub fn fmt_tick(v: f64) -> String {
    whet_data::report::fmt_short(v)
}

/// The range of finite values with a little padding (a unit range around a constant).
pub fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi <= lo {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.04;
    (lo - pad, hi + pad)
}

impl Chart {
    pub fn new(width: f64, height: f64, x: (f64, f64), y: (f64, f64)) -> Chart {
        Chart {
            width,
            height,
            left: 56.0,
            right: 14.0,
            top: 12.0,
            bottom: 42.0,
            x0: x.0,
            x1: x.1,
            y0: y.0,
            y1: y.1,
            body: String::new(),
        }
    }

    /// A chart with a wide left margin for category labels.
    pub fn with_left(mut self, left: f64) -> Chart {
        self.left = left;
        self
    }

    pub fn px(&self, x: f64) -> f64 {
        self.left + (x - self.x0) / (self.x1 - self.x0) * (self.width - self.left - self.right)
    }

    pub fn py(&self, y: f64) -> f64 {
        self.height
            - self.bottom
            - (y - self.y0) / (self.y1 - self.y0) * (self.height - self.top - self.bottom)
    }

    /// Grid, ticks and axis titles; `y_labels` replaces the numeric y ticks by named rows.
    pub fn axes(&mut self, x_title: &str, y_title: &str) {
        let (l, r, t, b) = (
            self.left,
            self.width - self.right,
            self.top,
            self.height - self.bottom,
        );
        for v in ticks(self.x0, self.x1) {
            let x = self.px(v);
            let _ = write!(
                self.body,
                "<line x1=\"{x:.1}\" y1=\"{t:.1}\" x2=\"{x:.1}\" y2=\"{b:.1}\" stroke=\"#eef0f3\"/><text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#5b6472\">{}</text>",
                b + 14.0,
                fmt_tick(v)
            );
        }
        if !y_title.is_empty() || self.left < 100.0 {
            for v in ticks(self.y0, self.y1) {
                let y = self.py(v);
                let _ = write!(
                    self.body,
                    "<line x1=\"{l:.1}\" y1=\"{y:.1}\" x2=\"{r:.1}\" y2=\"{y:.1}\" stroke=\"#eef0f3\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#5b6472\">{}</text>",
                    l - 5.0,
                    y + 4.0,
                    fmt_tick(v)
                );
            }
        }
        let _ = write!(
            self.body,
            "<rect x=\"{l:.1}\" y=\"{t:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#c5cad3\"/>",
            r - l,
            b - t
        );
        let _ = write!(
            self.body,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#1d2330\">{}</text>",
            (l + r) / 2.0,
            self.height - 6.0,
            escape(x_title)
        );
        if !y_title.is_empty() {
            let _ = write!(
                self.body,
                "<text transform=\"translate(13,{:.1}) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\" fill=\"#1d2330\">{}</text>",
                (t + b) / 2.0,
                escape(y_title)
            );
        }
    }

    pub fn polyline(&mut self, points: &[(f64, f64)], color: &str, width: f64, dashed: bool) {
        let mut d = String::new();
        for &(x, y) in points.iter().filter(|p| p.0.is_finite() && p.1.is_finite()) {
            let _ = write!(d, "{:.1},{:.1} ", self.px(x), self.py(y));
        }
        let dash = if dashed {
            " stroke-dasharray=\"5 4\""
        } else {
            ""
        };
        let _ = write!(
            self.body,
            "<polyline points=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\"{dash}/>"
        );
    }

    /// Points; `color_of` picks each point's colour.
    pub fn points(
        &mut self,
        points: &[(f64, f64)],
        radius: f64,
        opacity: f64,
        color_of: impl Fn(usize) -> String,
    ) {
        for (i, &(x, y)) in points.iter().enumerate() {
            if !(x.is_finite() && y.is_finite()) {
                continue;
            }
            let _ = write!(
                self.body,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{radius}\" fill=\"{}\" fill-opacity=\"{opacity}\"/>",
                self.px(x),
                self.py(y),
                color_of(i)
            );
        }
    }

    /// A bar from y = base to y = top over [x_lo, x_hi].
    pub fn bar(&mut self, x_lo: f64, x_hi: f64, base: f64, top: f64, color: &str) {
        let (a, b) = (self.px(x_lo), self.px(x_hi));
        let (y0, y1) = (self.py(base), self.py(top));
        let _ = write!(
            self.body,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"/>",
            a.min(b),
            y0.min(y1),
            (b - a).abs().max(0.5),
            (y1 - y0).abs()
        );
    }

    /// A horizontal interval with a dot: row `y` (data units), from `lo` to `hi` around `v`.
    pub fn whisker(&mut self, y: f64, lo: f64, v: f64, hi: f64, color: &str) {
        let py = self.py(y);
        if lo.is_finite() && hi.is_finite() {
            let _ = write!(
                self.body,
                "<line x1=\"{:.1}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"{color}\" stroke-width=\"2\"/>",
                self.px(lo),
                self.px(hi)
            );
        }
        if v.is_finite() {
            let _ = write!(
                self.body,
                "<circle cx=\"{:.1}\" cy=\"{py:.1}\" r=\"3.5\" fill=\"{color}\"/>",
                self.px(v)
            );
        }
    }

    /// A vertical reference line at x.
    pub fn vline(&mut self, x: f64, color: &str) {
        let px = self.px(x);
        let _ = write!(
            self.body,
            "<line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-dasharray=\"4 3\"/>",
            self.top,
            self.height - self.bottom
        );
    }

    /// Text at a row on the left margin (category labels).
    pub fn row_label(&mut self, y: f64, text: &str) {
        let _ = write!(
            self.body,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#1d2330\">{}</text>",
            self.left - 6.0,
            self.py(y) + 4.0,
            escape(text)
        );
    }

    /// A legend line in the top-left corner of the plot area.
    pub fn legend(&mut self, entries: &[(&str, &str)]) {
        for (i, (color, text)) in entries.iter().enumerate() {
            let y = self.top + 16.0 + 16.0 * i as f64;
            let x = self.left + 10.0;
            let _ = write!(
                self.body,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"3\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#1d2330\">{}</text>",
                y - 4.0,
                x + 17.0,
                y,
                escape(text)
            );
        }
    }

    pub fn finish(self, title: &str) -> String {
        format!(
            "<figure style=\"width:{w}px\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\"><rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>{body}</svg><figcaption>{t}</figcaption></figure>",
            w = self.width,
            h = self.height,
            t = escape(title),
            body = self.body
        )
    }
}

/// A colour from blue (0) through grey to red (1) for feature values; grey for NaN.
pub fn value_color(v: f64) -> String {
    if !v.is_finite() {
        return "#9aa3ad".into();
    }
    let (r0, g0, b0) = (47.0, 109.0, 181.0);
    let (r1, g1, b1) = (200.0, 45.0, 50.0);
    let mix = |a: f64, b: f64| (a + (b - a) * v.clamp(0.0, 1.0)).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(r0, r1), mix(g0, g1), mix(b0, b1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
        };
        assert!(close(&ticks(0.0, 1.0), &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]));
        assert!(close(&ticks(-3.2, 17.0), &[0.0, 5.0, 10.0, 15.0]));
        assert!(close(&ticks(0.013, 0.061), &[0.02, 0.03, 0.04, 0.05, 0.06]));
    }
}
