//! What a task was doing, drawn inside its timeline bar from `phases.csv`: holding the
//! interpreter lock or computing (solid), waiting for the lock (pale), waiting on a sleep,
//! a request or a counter (light, outlined).

use std::collections::BTreeMap;

use plotters::style::RGBColor;

use super::{LegendMark, Span};
use crate::results::phases::PhaseSpan;
use crate::workload::PhaseKind;

/// One stretch of a task: its kind, start and end (seconds).
pub type Stretch = (PhaseKind, f64, f64);

/// The phases of one axis combination, by model, workers and lane, in start order.
#[derive(Debug, Default)]
pub struct PhaseIndex(BTreeMap<(String, usize, usize), Vec<Stretch>>);

impl PhaseIndex {
    /// Adds one stretch of phases.csv.
    pub fn push(&mut self, p: &PhaseSpan) {
        let key = (p.model.clone(), p.workers, p.lane);
        self.0
            .entry(key)
            .or_default()
            .push((p.kind, p.start_s, p.end_s));
    }

    /// Puts every lane's phases in start order; call once all rows are in.
    pub fn sort(&mut self) {
        for v in self.0.values_mut() {
            v.sort_by(|a, b| a.1.total_cmp(&b.1));
        }
    }

    /// The phases of the task drawn as `span`: those on its lane that start inside it
    /// (tasks on one lane of a blocking model never overlap).
    pub fn within(&self, span: &Span) -> &[Stretch] {
        let Some(all) = self.0.get(&(span.model.clone(), span.workers, span.lane)) else {
            return &[];
        };
        let from = all.partition_point(|p| p.1 < span.start);
        let to = all.partition_point(|p| p.1 < span.end);
        &all[from..to.max(from)]
    }

    /// Which kinds of phase the panels of `(model, workers)` show, with the model.
    pub fn kinds_of(&self, model: &str, workers: usize) -> Vec<PhaseKind> {
        let mut kinds: Vec<PhaseKind> = self
            .0
            .iter()
            .filter(|((m, w, _), _)| m == model && *w == workers)
            .flat_map(|(_, v)| v.iter().map(|p| p.0))
            .collect();
        kinds.sort_by_key(|k| PhaseKind::ALL.iter().position(|a| a == k));
        kinds.dedup();
        kinds
    }
}

/// `colour` with `white` of white mixed in (0 = itself, 1 = white).
fn whiten(colour: RGBColor, white: f64) -> RGBColor {
    let m = |c: u8| (c as f64 + (255.0 - c as f64) * white).round() as u8;
    RGBColor(m(colour.0), m(colour.1), m(colour.2))
}

/// The fill of a phase in a model's bar; opaque, so the shades stay exact.
pub fn shade(colour: RGBColor, kind: PhaseKind) -> RGBColor {
    match kind {
        PhaseKind::Held | PhaseKind::Compute => colour,
        PhaseKind::LockWait => whiten(colour, 0.7),
        PhaseKind::Wait => whiten(colour, 0.45),
    }
}

/// Whether a phase is outlined in the model's colour: waiting, told apart from the lock's
/// pale shade by its edge too.
pub fn outlined(kind: PhaseKind) -> bool {
    kind == PhaseKind::Wait
}

/// Legend entries for the phases drawn: each kind once, in the colour of the first model
/// showing it.
pub fn legend(drawn: &[(RGBColor, Vec<PhaseKind>)]) -> Vec<(String, RGBColor, LegendMark)> {
    PhaseKind::ALL
        .into_iter()
        .filter_map(|k| {
            let (colour, _) = drawn.iter().find(|(_, kinds)| kinds.contains(&k))?;
            let label = match k {
                PhaseKind::Held => "solid: holds the lock",
                PhaseKind::Compute => "solid: computes",
                PhaseKind::LockWait => "pale: waits for the lock",
                PhaseKind::Wait => "edged: waits (sleep, IO)",
            };
            Some((label.to_string(), shade(*colour, k), LegendMark::Bar))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(lane: usize, phase: &str, start_s: f64, end_s: f64) -> PhaseSpan {
        PhaseSpan {
            cell: String::new(),
            model: "gil_threads".into(),
            workers: 2,
            axes: Vec::new(),
            lane,
            kind: PhaseKind::parse(phase).unwrap(),
            start_s,
            end_s,
        }
    }

    #[test]
    fn a_span_finds_the_phases_of_its_lane_that_start_inside_it() {
        let mut idx = PhaseIndex::default();
        for r in [
            row(0, "lock_wait", 0.5, 1.0),
            row(0, "held", 0.0, 0.5),
            row(0, "held", 2.0, 3.0),
            row(1, "held", 0.0, 1.0),
        ] {
            idx.push(&r);
        }
        idx.sort();
        let span = Span {
            model: "gil_threads".into(),
            workers: 2,
            lane: 0,
            start: 0.0,
            end: 1.0,
            ok: true,
        };
        let kinds: Vec<PhaseKind> = idx.within(&span).iter().map(|p| p.0).collect();
        assert_eq!(kinds, [PhaseKind::Held, PhaseKind::LockWait]);
        assert_eq!(
            idx.kinds_of("gil_threads", 2),
            [PhaseKind::Held, PhaseKind::LockWait]
        );
    }

    #[test]
    fn shades_whiten_the_model_colour() {
        let grey = RGBColor(120, 120, 120);
        assert_eq!(shade(grey, PhaseKind::Held), grey);
        assert_eq!(shade(grey, PhaseKind::LockWait), RGBColor(215, 215, 215));
        assert_eq!(shade(grey, PhaseKind::Wait), RGBColor(181, 181, 181));
    }
}
