//! Which result is right when models disagree, decided once every repetition is in and
//! from all of them: the digest most models reached, else the baselines' one, else
//! nobody's (a table of `expect` digests is checked before, by the workload itself).

use std::collections::{BTreeMap, HashMap};

use crate::model::is_baseline;

/// One repetition's result fingerprint (`digest 5c415cc8…` in `detail`).
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

/// What the votes of one workload configuration decide.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'a> {
    /// The right fingerprint: repetitions that reached another one failed.
    Reference(&'a str),
    /// No majority and no baseline to settle it: why, naming every model involved.
    Disputed(String),
}

/// Each model's own answer: the fingerprint more than half of its repetitions reached,
/// or `None` when they split evenly (the model abstains, but still counts as a voter).
fn model_answers<'a>(votes: &[Vote<'a>]) -> BTreeMap<&'a str, Option<&'a str>> {
    let mut tallies: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for v in votes {
        *tallies
            .entry(v.model)
            .or_default()
            .entry(v.fingerprint)
            .or_default() += 1;
    }
    tallies
        .into_iter()
        .map(|(model, counts)| {
            let total: usize = counts.values().sum();
            let answer = counts
                .into_iter()
                .find(|(_, n)| n * 2 > total)
                .map(|(fp, _)| fp);
            (model, answer)
        })
        .collect()
}

/// Decides the reference from every repetition's vote. One vote per model (not per cell
/// or repetition), so a wrong model with many worker counts cannot outvote the others;
/// nothing depends on the order of `votes`, so neither the model list nor the running
/// order can change a verdict.
pub fn decide<'a>(votes: &[Vote<'a>]) -> Option<Decision<'a>> {
    if votes.is_empty() {
        return None;
    }
    let answers = model_answers(votes);
    let mut support: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (model, answer) in &answers {
        if let Some(fp) = answer {
            support.entry(fp).or_default().push(model);
        }
    }
    let everyone = votes.iter().all(|v| v.fingerprint == votes[0].fingerprint);
    if everyone {
        return Some(Decision::Reference(votes[0].fingerprint));
    }
    if let Some((fp, _)) = support
        .iter()
        .find(|(_, models)| models.len() * 2 > answers.len())
    {
        return Some(Decision::Reference(fp));
    }
    let baselines: Vec<&str> = support
        .iter()
        .filter(|(_, models)| models.iter().any(|m| is_baseline(m)))
        .map(|(fp, _)| *fp)
        .collect();
    if let [only] = baselines.as_slice() {
        return Some(Decision::Reference(only));
    }
    let mut reached: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for v in votes {
        let models = reached.entry(v.fingerprint).or_default();
        if !models.contains(&v.model) {
            models.push(v.model);
        }
    }
    let parts: Vec<String> = reached
        .iter()
        .map(|(fp, models)| {
            let mut models = models.clone();
            models.sort_unstable();
            format!("{fp} ({})", models.join(", "))
        })
        .collect();
    Some(Decision::Disputed(format!(
        "digests disagree and no majority of models decides: {}",
        parts.join("; ")
    )))
}

/// Why `fingerprint` is wrong: which reference it differs from, and which models reached
/// that, out of how many.
pub fn disagreement(fingerprint: &str, reference: &str, votes: &[Vote<'_>]) -> String {
    let answers = model_answers(votes);
    let agreeing: Vec<&str> = answers
        .iter()
        .filter(|(_, a)| **a == Some(reference))
        .map(|(m, _)| *m)
        .collect();
    format!(
        "digest {fingerprint} differs from {reference}, reached by {} of {} models ({})",
        agreeing.len(),
        answers.len(),
        agreeing.join(", ")
    )
}

/// The digest verdicts over a run's rows, by position in the slice judged.
#[derive(Debug, Default, PartialEq)]
pub struct Judged {
    /// Rows whose digest differs from their configuration's reference, and why.
    pub wrong: HashMap<usize, String>,
    /// Cells whose configuration has no reference, and why.
    pub disputed: HashMap<String, String>,
}

/// The workload kind and the values of the extra axes: cells that must agree.
pub type Configuration<'a> = (&'a str, &'a [(String, String)]);

/// Judges every vote against the others of its workload configuration; `votes` holds
/// each fingerprinted row's position, configuration and vote.
pub fn judge<'a>(votes: &[(usize, Configuration<'a>, Vote<'a>)]) -> Judged {
    let mut groups: HashMap<Configuration, Vec<(usize, Vote)>> = HashMap::new();
    for (i, configuration, vote) in votes {
        groups
            .entry(*configuration)
            .or_default()
            .push((*i, vote.clone()));
    }
    let mut out = Judged::default();
    for members in groups.values() {
        let votes: Vec<Vote> = members.iter().map(|(_, v)| v.clone()).collect();
        match decide(&votes) {
            Some(Decision::Reference(reference)) => {
                for (i, v) in members {
                    if v.fingerprint != reference {
                        let why = disagreement(v.fingerprint, reference, &votes);
                        out.wrong.insert(*i, format!("{}: {why}", v.model));
                    }
                }
            }
            Some(Decision::Disputed(why)) => {
                for (_, v) in members {
                    out.disputed.insert(v.cell.to_string(), why.clone());
                }
            }
            None => {}
        }
    }
    out
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
    fn the_majority_of_models_wins_whoever_ran_first() {
        let votes = [
            vote("a", "rayon", "bad"),
            vote("b", "thread_pool", "good"),
            vote("c", "async", "good"),
        ];
        assert_eq!(decide(&votes), Some(Decision::Reference("good")));
        assert_eq!(
            disagreement("bad", "good", &votes),
            "digest bad differs from good, reached by 2 of 3 models (async, thread_pool)"
        );
    }

    #[test]
    fn one_model_with_many_cells_has_one_vote() {
        let votes = [
            vote("w1", "wrong", "bad"),
            vote("w2", "wrong", "bad"),
            vote("w3", "wrong", "bad"),
            vote("t", "thread_pool", "good"),
            vote("s", "sequential", "good"),
        ];
        assert_eq!(decide(&votes), Some(Decision::Reference("good")));
    }

    #[test]
    fn a_model_wrong_once_is_outvoted_by_its_own_repetitions() {
        let votes = [
            vote("x", "ext", "good"),
            vote("x", "ext", "bad"),
            vote("x", "ext", "good"),
        ];
        assert_eq!(decide(&votes), Some(Decision::Reference("good")));
    }

    #[test]
    fn ties_go_to_the_baseline_else_nobody() {
        let votes = [vote("a", "rayon", "x"), vote("b", "sequential", "y")];
        assert_eq!(decide(&votes), Some(Decision::Reference("y")));
        let votes = [vote("a", "rayon", "x"), vote("b", "async", "y")];
        let Some(Decision::Disputed(why)) = decide(&votes) else {
            panic!("a tie without a baseline is disputed")
        };
        assert!(why.contains("x (rayon); y (async)"), "{why}");
        assert_eq!(decide(&[]), None);
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
