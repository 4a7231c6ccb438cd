//! Which repetition of which cell runs next: a fixed count, or under `auto` a count chosen
//! once from a pilot; cells named by claims get enough repetitions to decide them.

use std::collections::VecDeque;

use crate::experiment::claims::{Claim, Metric};
use crate::experiment::{Cell, Order, Repetitions};
use crate::model::kind::Baselines;
use crate::results::intervals::{AUTO_PILOT, auto_count, fewest_deciding};

/// What one cell has so far.
#[derive(Debug, Clone, Default)]
struct CellState {
    /// Wall times of the repetitions that count (passed or raced), earlier runs included.
    walls: Vec<f64>,
    /// The highest repetition number written, so new ones continue the count.
    last: u32,
    /// Repetitions handed out in this run.
    attempts: u32,
    /// Fixed counts: how many this run owes (what earlier runs left to do).
    owed: u32,
    /// The fewest counted repetitions the cell must reach: more than the experiment asks
    /// for when a claim needs an interval that can decide it.
    floor: u32,
}

/// The cells' repetitions in running order, decided one at a time as results come in.
pub struct Schedule {
    order: Order,
    repetitions: Repetitions,
    cells: Vec<CellState>,
    /// Interleaved order: the cells still to run in the current round.
    round: VecDeque<usize>,
    /// Grouped order: the cell being repeated.
    current: usize,
    /// Repetitions handed out in this run, and the least number expected at the start.
    handed_out: u64,
    expected: u64,
}

impl Schedule {
    /// `existing[i]`: the wall times of cell i's counted rows and its highest repetition.
    pub fn new(order: Order, repetitions: Repetitions, existing: Vec<(Vec<f64>, u32)>) -> Self {
        let cells = existing
            .into_iter()
            .map(|(walls, last)| CellState {
                owed: repetitions.min().saturating_sub(walls.len() as u32),
                floor: repetitions.min(),
                walls,
                last,
                attempts: 0,
            })
            .collect();
        let mut s = Schedule {
            order,
            repetitions,
            cells,
            round: VecDeque::new(),
            current: 0,
            handed_out: 0,
            expected: 0,
        };
        s.expected = s.least_remaining();
        s
    }

    /// Cells `deciding` get at least the repetitions that can decide a claim at 95%
    /// (see [`claimed`]); under `auto` the pilot's count already does.
    pub fn decide_claims(&mut self, deciding: &[usize]) {
        let floor = fewest_deciding() as u32;
        for &i in deciding {
            let c = &mut self.cells[i];
            c.floor = c.floor.max(floor);
            c.owed = c.floor.saturating_sub(c.walls.len() as u32);
        }
        self.expected = self.least_remaining();
    }

    /// Does cell `i` need another repetition?
    pub fn wants_more(&self, i: usize) -> bool {
        let c = &self.cells[i];
        match self.repetitions {
            Repetitions::Fixed(_) => c.attempts < c.owed,
            Repetitions::Auto {
                precision,
                min,
                max,
            } => {
                let n = c.walls.len() as u32;
                // Failed repetitions count against `max` too, so a cell that always fails ends.
                if n >= max || c.attempts >= max {
                    return false;
                }
                let pilot = pilot(min, max);
                if n < pilot {
                    return true;
                }
                // One look, at the pilot only: the count it gives does not move with the
                // repetitions after it, so the interval keeps the coverage it states.
                let target = auto_count(
                    &c.walls[..pilot as usize],
                    precision,
                    min.max(c.floor) as usize,
                    max as usize,
                );
                (n as usize) < target
            }
        }
    }

    /// The next (cell index, repetition number), or None when every cell is done.
    pub fn next_repetition(&mut self) -> Option<(usize, u32)> {
        let i = match self.order {
            Order::Grouped => {
                while self.current < self.cells.len() && !self.wants_more(self.current) {
                    self.current += 1;
                }
                (self.current < self.cells.len()).then_some(self.current)?
            }
            Order::Interleaved => {
                if self.round.is_empty() {
                    self.round = (0..self.cells.len())
                        .filter(|&i| self.wants_more(i))
                        .collect();
                }
                self.round.pop_front()?
            }
        };
        let c = &mut self.cells[i];
        c.attempts += 1;
        c.last += 1;
        self.handed_out += 1;
        Some((i, c.last))
    }

    /// The wall time of a repetition that counts; failed ones record nothing.
    pub fn record(&mut self, i: usize, wall_s: f64) {
        self.cells[i].walls.push(wall_s);
    }

    /// Cell `i` has had its first repetition of this run handed out (warm-ups go first).
    pub fn first_of_run(&self, i: usize) -> bool {
        self.cells[i].attempts == 1
    }

    /// Cell `i` will get no more repetitions in this run.
    pub fn finished(&self, i: usize) -> bool {
        !self.wants_more(i) && !self.round.contains(&i)
    }

    /// Whether the last repetition handed out went past the estimate made at the start.
    pub fn beyond_estimate(&self) -> bool {
        self.handed_out > self.expected
    }

    /// The fewest repetitions still to come: fixed counts, or what `min` still asks for.
    pub fn least_remaining(&self) -> u64 {
        (0..self.cells.len())
            .map(|i| {
                let c = &self.cells[i];
                match self.repetitions {
                    Repetitions::Fixed(_) => c.owed.saturating_sub(c.attempts) as u64,
                    Repetitions::Auto { min, max, .. } => {
                        let short = pilot(min, max).saturating_sub(c.walls.len() as u32) as u64;
                        short.max(self.wants_more(i) as u64)
                    }
                }
            })
            .sum()
    }

    /// The cells that get at least one repetition in this run.
    pub fn cells_to_run(&self) -> usize {
        (0..self.cells.len())
            .filter(|&i| self.wants_more(i))
            .count()
    }
}

/// The repetitions `auto` runs before it chooses a cell's count.
fn pilot(min: u32, max: u32) -> u32 {
    min.max(AUTO_PILOT as u32).min(max)
}

/// The fewest repetitions a cell gets in all: the experiment's count, the pilot under
/// `auto`, and for a cell a claim judges (`claimed`) the count that can decide it.
pub fn least_count(repetitions: Repetitions, claimed: bool) -> u32 {
    let least = match repetitions {
        Repetitions::Fixed(n) => n,
        Repetitions::Auto { min, max, .. } => pilot(min, max),
    };
    match (repetitions, claimed) {
        (Repetitions::Fixed(_), true) => least.max(fewest_deciding() as u32),
        _ => least,
    }
}

/// The indices of `cells` that a claim judges on an interval, with the baselines of its
/// speedups (a paired interval needs both): they must reach a count that can decide it.
pub fn claimed(claims: &[Claim], cells: &[Cell], baselines: &Baselines) -> Vec<usize> {
    let named: Vec<(usize, bool)> = cells
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let judged = claims
                .iter()
                .filter(|k| k.metric != Metric::Check && k.selects(|key| c.column(key)));
            let mut judged = judged.peekable();
            judged.peek()?;
            Some((i, judged.any(|k| k.metric == Metric::Speedup)))
        })
        .collect();
    let mut out: Vec<usize> = named.iter().map(|&(i, _)| i).collect();
    for &(i, speedup) in &named {
        if !speedup {
            continue;
        }
        let c = &cells[i];
        let Some(base) = baselines.of_model(c.model.name()) else {
            continue;
        };
        out.extend(
            cells
                .iter()
                .enumerate()
                .filter(|(_, b)| b.model.name() == base && b.axes == c.axes)
                .map(|(j, _)| j),
        );
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::intervals::DECIDING_REPETITIONS;

    const AUTO: Repetitions = Repetitions::Auto {
        precision: 0.05,
        min: 3,
        max: 12,
    };

    /// Runs the schedule to the end, with each cell's k-th repetition taking `wall(i, k)`.
    fn drive(s: &mut Schedule, wall: impl Fn(usize, u32) -> f64) -> Vec<(usize, u32)> {
        let mut order = Vec::new();
        while let Some((i, rep)) = s.next_repetition() {
            order.push((i, rep));
            s.record(i, wall(i, rep));
        }
        order
    }

    fn count(order: &[(usize, u32)], cell: usize) -> usize {
        order.iter().filter(|(i, _)| *i == cell).count()
    }

    #[test]
    fn auto_chooses_a_count_once_from_its_pilot() {
        let mut s = Schedule::new(Order::Interleaved, AUTO, vec![(vec![], 0), (vec![], 0)]);
        // Cell 0 is steady (1.00, 1.01, 1.00, ...); cell 1 alternates 1.0 and 1.5: its
        // pilot asks for the maximum.
        let order = drive(&mut s, |i, k| match i {
            0 => 1.0 + 0.01 * (k % 2) as f64,
            _ => 1.0 + 0.5 * (k % 2) as f64,
        });
        assert_eq!(
            count(&order, 0),
            DECIDING_REPETITIONS,
            "steady: enough to decide"
        );
        assert_eq!(count(&order, 1), 12, "noisy: up to the maximum");
        // Rounds interleave: the first rounds run both cells, later ones only the noisy.
        assert_eq!(
            &order[..6],
            &[(0, 1), (1, 1), (0, 2), (1, 2), (0, 3), (1, 3)]
        );
        assert!(
            order[2 * DECIDING_REPETITIONS..]
                .iter()
                .all(|(i, _)| *i == 1)
        );
        assert!(s.finished(0) && s.finished(1));
    }

    #[test]
    fn auto_does_not_stop_when_a_late_interval_happens_to_look_narrow() {
        let mut s = Schedule::new(Order::Grouped, AUTO, vec![(vec![], 0)]);
        // A noisy pilot, then steady repetitions: the count stays what the pilot chose.
        let order = drive(&mut s, |_, k| {
            if k <= 5 {
                1.0 + 0.3 * (k % 2) as f64
            } else {
                1.0
            }
        });
        assert_eq!(order.len(), 12, "{order:?}");
    }

    #[test]
    fn resume_counts_rows_already_written() {
        let steady = vec![1.0, 1.0, 1.0, 1.0, 1.0];
        let mut s = Schedule::new(
            Order::Interleaved,
            AUTO,
            vec![(steady.clone(), 5), (vec![1.0], 1)],
        );
        assert_eq!(
            s.least_remaining(),
            5,
            "cell 0 needs its sixth, cell 1 four more to end its pilot"
        );
        let order = drive(&mut s, |_, _| 1.0);
        assert_eq!(count(&order, 1), 5);
        assert_eq!(order[0], (0, 6), "numbering continues after the last row");
        let mut fixed = Schedule::new(
            Order::Grouped,
            Repetitions::Fixed(3),
            vec![(steady[..3].to_vec(), 3), (vec![], 0)],
        );
        assert_eq!(drive(&mut fixed, |_, _| 1.0), vec![(1, 1), (1, 2), (1, 3)]);
    }

    #[test]
    fn claimed_cells_get_enough_repetitions_to_decide() {
        let mut s = Schedule::new(
            Order::Interleaved,
            Repetitions::Fixed(3),
            vec![(vec![1.0], 1), (vec![], 0)],
        );
        s.decide_claims(&[0]);
        assert_eq!(s.least_remaining(), 4 + 3);
        let order = drive(&mut s, |_, _| 1.0);
        assert_eq!((count(&order, 0), count(&order, 1)), (4, 3));
    }

    #[test]
    fn a_speedup_claim_lifts_the_baseline_of_its_own_interpreter() {
        let text = "[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"1ms\"\n\
            [matrix]\nmodel = [\"sequential\", \"cpython_sequential\", \"ft_sequential\", \"ft_threads\"]\n\
            [models.ft_sequential]\nbase = \"cpython_sequential\"\npython = \"python3.13t\"\n\
            [models.ft_threads]\nbase = \"cpython_threads\"\npython = \"python3.13t\"\n\
            [[claims]]\nsay = \"x\"\ncell = { model = \"ft_threads\" }\nexpect = \"speedup >= 1.3\"\n";
        let path = std::path::Path::new("/lab/ft.toml");
        let e = crate::experiment::parse_experiment("ft.toml", text, path, &[]).unwrap();
        let cells = crate::experiment::expand::expand(&e);
        let names: Vec<&str> = claimed(&e.claims, &cells, &e.baselines())
            .into_iter()
            .map(|i| cells[i].model.name())
            .collect();
        assert_eq!(names, ["ft_sequential", "ft_threads"]);
    }

    #[test]
    fn a_cell_that_always_fails_ends_at_the_maximum() {
        let mut s = Schedule::new(Order::Interleaved, AUTO, vec![(vec![], 0)]);
        let mut n = 0;
        while s.next_repetition().is_some() {
            n += 1;
        }
        assert_eq!(n, 12);
        assert!(s.beyond_estimate());
    }

    #[test]
    fn fixed_counts_interleave_by_rounds() {
        let mut s = Schedule::new(
            Order::Interleaved,
            Repetitions::Fixed(2),
            vec![(vec![], 0), (vec![5.0], 1)],
        );
        assert_eq!(s.least_remaining(), 3);
        assert_eq!(drive(&mut s, |_, _| 1.0), vec![(0, 1), (1, 2), (0, 2)]);
        assert!(!s.beyond_estimate());
    }
}
