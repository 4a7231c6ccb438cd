//! Lines for people: stdout that ends quietly on a closed pipe, and seconds written to read.

use std::io::Write;

/// Writes one line to stdout; a closed pipe (`conclab plan | head`) ends output quietly.
pub fn say(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").is_ok()
}

pub fn seconds(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} s")
    } else if v >= 1.0 {
        format!("{v:.3} s")
    } else if v >= 1e-3 {
        format!("{:.2} ms", v * 1e3)
    } else {
        format!("{:.1} µs", v * 1e6)
    }
}

/// `3.70-3.75 s`: an interval in the unit of its upper end.
pub fn seconds_range(lo: f64, hi: f64) -> String {
    let (scale, unit, digits) = if hi >= 100.0 {
        (1.0, "s", 0)
    } else if hi >= 1.0 {
        (1.0, "s", 3)
    } else if hi >= 1e-3 {
        (1e3, "ms", 2)
    } else {
        (1e6, "µs", 1)
    };
    format!("{:.digits$}-{:.digits$} {unit}", lo * scale, hi * scale)
}
