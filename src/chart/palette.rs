//! One fixed colour per model across every chart, and the embedded font.

use plotters::style::{FontStyle, RGBColor, register_font};

use crate::model::{Model, Rgb};

/// The family every chart text names; registered from an embedded font, so no system
/// font library is needed. `text.rs` draws every label from the same embedded Noto Sans.
pub const FONT: &str = "sans-serif";

pub const UNKNOWN: RGBColor = RGBColor(170, 170, 170);
pub const FAILED: RGBColor = RGBColor(200, 0, 0);
pub const IDEAL_GREY: RGBColor = RGBColor(90, 90, 90);

/// A built-in model's own colour (each model's file picks it: Okabe–Ito colours, which
/// stay distinguishable with the common colour-vision deficiencies, then a few more; each
/// CPython model a darker shade of the Rust model it mirrors); models of the user's own
/// are drawn in [`UNKNOWN`].
pub fn model_colour(model: &str) -> RGBColor {
    Model::builtin(model)
        .and_then(|m| m.colour())
        .map_or(UNKNOWN, |Rgb(r, g, b)| RGBColor(r, g, b))
}

/// How each model of one experiment is drawn: a built-in model in its own colour and
/// place; an interpreter variant (`[models.NAME] base = "cpython_..."`) in its base
/// model's colour, after every built-in model, in a panel of its own interpreter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Looks {
    /// Each variant's name and the built-in model it runs.
    bases: std::collections::BTreeMap<String, String>,
}

impl Looks {
    pub fn of(models: &[Model]) -> Looks {
        let bases = models
            .iter()
            .filter_map(|m| match m {
                Model::Variant(v) => Some((v.name.clone(), v.base.name().to_string())),
                _ => None,
            })
            .collect();
        Looks { bases }
    }

    /// The built-in model `model` runs, if it is a variant.
    pub fn base_of(&self, model: &str) -> Option<&str> {
        self.bases.get(model).map(String::as_str)
    }

    pub fn colour(&self, model: &str) -> RGBColor {
        model_colour(self.base_of(model).unwrap_or(model))
    }

    /// Display order: the built-in models in the registry's order, then the variants in
    /// their bases' order, then models of the user's own.
    pub fn rank(&self, model: &str) -> usize {
        let builtins = Model::builtin_names().len();
        match self.base_of(model) {
            Some(base) => builtins + 1 + model_rank(base),
            None => match model_rank(model) {
                own if own < builtins => own,
                _ => 2 * builtins + 2,
            },
        }
    }
}

/// Display order of models: the registry's order, unknown names last.
pub fn model_rank(model: &str) -> usize {
    let names = Model::builtin_names();
    names
        .iter()
        .position(|m| *m == model)
        .unwrap_or(names.len())
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
        for m in Model::builtin_names() {
            let c = model_colour(m);
            assert_ne!(c, UNKNOWN, "{m}");
            assert!(seen.insert((c.0, c.1, c.2)), "{m} shares a colour");
        }
        assert_eq!(model_colour("nonsense"), UNKNOWN);
        assert_eq!(
            model_rank("nonsense"),
            crate::model::Model::builtin_names().len()
        );
    }
}
