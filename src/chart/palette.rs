//! One fixed colour per model across every chart, and the embedded font.

use plotters::style::{FontStyle, RGBColor, register_font};

/// The family every chart text names; registered from an embedded font, so no system
/// font library is needed. `text.rs` draws every label from the same embedded Noto Sans.
pub const FONT: &str = "sans-serif";

/// Okabe–Ito colours (distinguishable with the common colour-vision deficiencies), plus a
/// dark yellow, a purple and a grey for the models beyond eight; each CPython model takes a
/// darker shade of the Rust model it mirrors. Models of the user's own are drawn in
/// [`UNKNOWN`].
const MODEL_COLOURS: [(&str, RGBColor); 17] = [
    ("sequential", RGBColor(0, 0, 0)),
    ("threads", RGBColor(230, 159, 0)),
    ("thread_pool", RGBColor(86, 180, 233)),
    ("rayon", RGBColor(0, 158, 115)),
    ("process_pool", RGBColor(0, 114, 178)),
    ("async", RGBColor(213, 94, 0)),
    ("async_pool", RGBColor(204, 121, 167)),
    ("async_blocking", RGBColor(160, 140, 0)),
    ("async_to_thread", RGBColor(110, 70, 170)),
    ("gil_threads", RGBColor(120, 120, 120)),
    ("cpython_sequential", RGBColor(90, 60, 40)),
    ("cpython_threads", RGBColor(150, 100, 0)),
    ("cpython_thread_pool", RGBColor(40, 110, 150)),
    ("cpython_process_pool", RGBColor(0, 60, 100)),
    ("cpython_asyncio", RGBColor(140, 55, 0)),
    ("cpython_asyncio_blocking", RGBColor(100, 90, 0)),
    ("cpython_to_thread", RGBColor(110, 50, 140)),
];

pub const UNKNOWN: RGBColor = RGBColor(170, 170, 170);
pub const FAILED: RGBColor = RGBColor(200, 0, 0);
pub const IDEAL_GREY: RGBColor = RGBColor(90, 90, 90);

pub fn model_colour(model: &str) -> RGBColor {
    MODEL_COLOURS
        .iter()
        .find(|(m, _)| *m == model)
        .map_or(UNKNOWN, |(_, c)| *c)
}

/// Display order of models: the palette's order, unknown names last.
pub fn model_rank(model: &str) -> usize {
    MODEL_COLOURS
        .iter()
        .position(|(m, _)| *m == model)
        .unwrap_or(MODEL_COLOURS.len())
}

pub fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = register_font(FONT, FontStyle::Normal, ttf_noto_sans::REGULAR);
        let _ = register_font(FONT, FontStyle::Bold, ttf_noto_sans::BOLD);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_has_its_own_colour() {
        let mut seen = std::collections::HashSet::new();
        for m in crate::model::Model::builtin_names() {
            let c = model_colour(m);
            assert_ne!(c, UNKNOWN, "{m}");
            assert!(seen.insert((c.0, c.1, c.2)), "{m} shares a colour");
        }
        assert_eq!(model_colour("nonsense"), UNKNOWN);
    }
}
