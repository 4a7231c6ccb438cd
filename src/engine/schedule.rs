//! Which repetition of which cell runs next: a fixed count, or until the median is precise.

use std::collections::VecDeque;

use crate::experiment::{Order, Repetitions};
use crate::results::stats::stats;

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
                n < min || !precise(&c.walls, precision)
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
                    Repetitions::Auto { min, .. } => {
                        let short = min.saturating_sub(c.walls.len() as u32) as u64;
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

/// The median's interval is within `precision` of it (half-width over the median).
pub fn precise(walls: &[f64], precision: f64) -> bool {
    stats(walls).is_some_and(|s| s.ci.relative_half_width(s.median) <= precision)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn auto_stops_a_steady_cell_at_the_minimum_and_repeats_a_noisy_one() {
        let mut s = Schedule::new(Order::Interleaved, AUTO, vec![(vec![], 0), (vec![], 0)]);
        // Cell 0 is steady (1.00, 1.01, 1.00, ...); cell 1 alternates 1.0 and 1.5: its
        // interval never narrows below ±5%.
        let order = drive(&mut s, |i, k| match i {
            0 => 1.0 + 0.01 * (k % 2) as f64,
            _ => 1.0 + 0.5 * (k % 2) as f64,
        });
        assert_eq!(count(&order, 0), 3, "steady: the minimum");
        assert_eq!(count(&order, 1), 12, "noisy: up to the maximum");
        // Rounds interleave: the first round runs both cells, later ones only the noisy.
        assert_eq!(
            &order[..6],
            &[(0, 1), (1, 1), (0, 2), (1, 2), (0, 3), (1, 3)]
        );
        assert!(order[6..].iter().all(|(i, _)| *i == 1));
        assert!(s.finished(0) && s.finished(1));
    }

    #[test]
    fn auto_stops_once_a_noisy_start_settles() {
        let mut s = Schedule::new(Order::Grouped, AUTO, vec![(vec![], 0)]);
        // One slow repetition, then steady ones: the order statistics trim it away at n=9.
        let order = drive(&mut s, |_, k| if k == 1 { 2.0 } else { 1.0 });
        assert_eq!(order.len(), 9, "{order:?}");
    }

    #[test]
    fn resume_counts_rows_already_written() {
        let steady = vec![1.0, 1.0, 1.0];
        let mut s = Schedule::new(
            Order::Interleaved,
            AUTO,
            vec![(steady.clone(), 3), (vec![1.0], 1)],
        );
        assert_eq!(
            s.least_remaining(),
            2,
            "cell 1 needs two more to reach the minimum"
        );
        let order = drive(&mut s, |_, _| 1.0);
        assert_eq!(
            order,
            vec![(1, 2), (1, 3)],
            "numbering continues after the last row"
        );
        let mut fixed = Schedule::new(
            Order::Grouped,
            Repetitions::Fixed(3),
            vec![(steady, 3), (vec![], 0)],
        );
        assert_eq!(drive(&mut fixed, |_, _| 1.0), vec![(1, 1), (1, 2), (1, 3)]);
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
