//! Which result is right when models disagree: the one most cells reached, ties going to
//! a baseline's, a sequential model's (a table of `expect` digests is checked before, by
//! the workload itself).

use crate::model::is_baseline;

/// One cell's result fingerprint (`digest 5c415cc8…` in `detail`).
#[derive(Debug, Clone, PartialEq)]
pub struct Vote<'a> {
    pub cell: &'a str,
    pub model: &'a str,
    pub fingerprint: &'a str,
}

/// The fingerprint in a row's `detail`, if it has one.
pub fn fingerprint_of(detail: &str) -> Option<&str> {
    let rest = detail.strip_prefix("digest ")?;
    let end = rest
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The reference: the fingerprint of the most cells; among equals, a baseline's; failing
/// that, the one seen first.
pub fn reference<'a>(votes: &[Vote<'a>]) -> Option<&'a str> {
    let mut tally: Vec<(&str, usize, bool)> = Vec::new();
    for v in votes {
        match tally.iter_mut().find(|(fp, ..)| *fp == v.fingerprint) {
            Some(t) => {
                t.1 += 1;
                t.2 |= is_baseline(v.model);
            }
            None => tally.push((v.fingerprint, 1, is_baseline(v.model))),
        }
    }
    // max_by_key keeps the last of equals, so walk from the back to prefer the first seen.
    tally
        .iter()
        .rev()
        .max_by_key(|(_, n, sequential)| (*n, *sequential))
        .map(|(fp, ..)| *fp)
}

/// Why `fingerprint` is wrong: which reference it differs from, and who reached that.
pub fn disagreement(fingerprint: &str, reference: &str, votes: &[Vote<'_>]) -> String {
    let agreeing: Vec<&str> = votes
        .iter()
        .filter(|v| v.fingerprint == reference)
        .map(|v| v.model)
        .collect();
    let mut models = agreeing.clone();
    models.dedup();
    format!(
        "digest {fingerprint} differs from {reference}, reached by {} of {} cells ({})",
        agreeing.len(),
        votes.len(),
        models.join(", ")
    )
}

/// The cells' fingerprints of one workload configuration, as a run learns them: one vote
/// per cell, its latest passing repetition's.
#[derive(Debug, Default)]
pub struct Ballot {
    votes: Vec<(String, String, String)>,
}

impl Ballot {
    /// Records `cell`'s fingerprint without judging it (rows already written).
    pub fn cast(&mut self, cell: &str, model: &str, fingerprint: &str) {
        self.votes.retain(|(c, ..)| c != cell);
        self.votes
            .push((cell.to_string(), model.to_string(), fingerprint.to_string()));
    }

    fn as_votes(&self) -> Vec<Vote<'_>> {
        self.votes
            .iter()
            .map(|(cell, model, fp)| Vote {
                cell,
                model,
                fingerprint: fp,
            })
            .collect()
    }

    /// Judges a new repetition of `cell`: with its vote counted, does it agree with the
    /// reference? If so the vote stays; if not the ballot is left as it was and the
    /// reason is returned.
    pub fn judge(&mut self, cell: &str, model: &str, fingerprint: &str) -> Result<(), String> {
        let before = self.votes.clone();
        self.cast(cell, model, fingerprint);
        let votes = self.as_votes();
        match reference(&votes) {
            Some(r) if r != fingerprint => {
                let why = disagreement(fingerprint, r, &votes);
                self.votes = before;
                Err(why)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote<'a>(cell: &'a str, model: &'a str, fp: &'a str) -> Vote<'a> {
        Vote {
            cell,
            model,
            fingerprint: fp,
        }
    }

    #[test]
    fn the_majority_wins_whoever_ran_first() {
        let votes = [
            vote("a", "rayon", "bad"),
            vote("b", "thread_pool", "good"),
            vote("c", "async", "good"),
        ];
        assert_eq!(reference(&votes), Some("good"));
        assert_eq!(
            disagreement("bad", "good", &votes),
            "digest bad differs from good, reached by 2 of 3 cells (thread_pool, async)"
        );
    }

    #[test]
    fn ties_go_to_sequential_then_to_the_first_seen() {
        let votes = [vote("a", "rayon", "x"), vote("b", "sequential", "y")];
        assert_eq!(reference(&votes), Some("y"));
        let votes = [vote("a", "rayon", "x"), vote("b", "async", "y")];
        assert_eq!(reference(&votes), Some("x"));
        assert_eq!(reference(&[]), None);
    }

    #[test]
    fn a_ballot_judges_new_results_against_the_cells_so_far() {
        let mut b = Ballot::default();
        b.cast("w", "rayon", "bad");
        // One against one: sequential's is the reference, and the wrong cell is outvoted
        // from then on.
        assert_eq!(b.judge("s", "sequential", "good"), Ok(()));
        assert_eq!(b.judge("t", "thread_pool", "good"), Ok(()));
        let err = b.judge("w", "rayon", "bad").unwrap_err();
        assert!(
            err.contains("differs from good, reached by 2 of 3 cells"),
            "{err}"
        );
        assert_eq!(b.judge("a", "async", "good"), Ok(()));
    }

    #[test]
    fn fingerprints_are_read_from_details() {
        assert_eq!(
            fingerprint_of("digest 5c415cc8a1b2c3d4"),
            Some("5c415cc8a1b2c3d4")
        );
        assert_eq!(
            fingerprint_of("digest 5c415cc8 (expect ok)"),
            Some("5c415cc8")
        );
        assert_eq!(fingerprint_of("final=3 expected=10"), None);
    }
}
