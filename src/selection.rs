//! Which cells a command touches: `--only KEY=V,V` filters and `--shard I/N` (or `auto`).

use crate::experiment::{Cell, Experiment};

/// `--only KEY=V[,V]`: a cell matches when its KEY column has one of the values.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub key: String,
    pub values: Vec<String>,
}

impl std::str::FromStr for Filter {
    type Err = String;
    fn from_str(s: &str) -> Result<Filter, String> {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("--only takes KEY=V[,V]..., got \"{s}\""))?;
        let values: Vec<String> = v
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect();
        if k.trim().is_empty() || values.is_empty() {
            return Err(format!("--only takes KEY=V[,V]..., got \"{s}\""));
        }
        Ok(Filter {
            key: k.trim().to_string(),
            values,
        })
    }
}

/// `--shard I/N` (1 <= I <= N): every N-th cell starting at the I-th.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard takes I/N with 1 <= I <= N, got \"{s}\"");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// `--shard I/N`, or `--shard auto`: the share a scheduler gave this process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShardArg {
    Fixed(Shard),
    Auto,
}

impl std::str::FromStr for ShardArg {
    type Err = String;
    fn from_str(s: &str) -> Result<ShardArg, String> {
        if s.trim() == "auto" {
            return Ok(ShardArg::Auto);
        }
        s.parse()
            .map(ShardArg::Fixed)
            .map_err(|e| format!("{e}, or auto"))
    }
}

/// Every variable `--shard auto` reads, in the order it asks them.
pub const SHARD_VARIABLES: [&str; 6] = [
    "CONCLAB_SHARD",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
    "JOB_COMPLETION_INDEX",
    "CONCLAB_SHARDS",
];

impl ShardArg {
    /// The shard itself; `auto` asks the process environment.
    pub fn resolve(self) -> Result<Shard, String> {
        match self {
            ShardArg::Fixed(s) => Ok(s),
            ShardArg::Auto => shard_from_env(|k| std::env::var(k).ok()),
        }
    }
}

/// The share a scheduler set: `CONCLAB_SHARD=I/N` (1-based, as `--shard I/N`) wins; then a
/// Slurm array task (index `SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN`, which assumes an
/// array without a step such as `--array=0-3`); then a Kubernetes Indexed Job
/// (`JOB_COMPLETION_INDEX`, 0-based, of `CONCLAB_SHARDS`).
pub fn shard_from_env(var: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
    let get = |k: &str| {
        var(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let number = |k: &str| -> Result<Option<usize>, String> {
        get(k)
            .map(|v| {
                v.parse::<usize>()
                    .map_err(|_| format!("--shard auto: {k}={v} is not a whole number"))
            })
            .transpose()
    };
    let zero_based = |index: usize, count: usize, what: &str| {
        if count == 0 || index >= count {
            Err(format!(
                "--shard auto: {what} gives shard index {index} (0-based) of {count}; it must be below the count"
            ))
        } else {
            Ok(Shard {
                index: index + 1,
                count,
            })
        }
    };
    if let Some(v) = get("CONCLAB_SHARD") {
        return v
            .parse::<Shard>()
            .map_err(|_| format!("--shard auto: CONCLAB_SHARD={v} must be I/N with 1 <= I <= N"));
    }
    if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        let (min, count) = (
            number("SLURM_ARRAY_TASK_MIN")?,
            number("SLURM_ARRAY_TASK_COUNT")?,
        );
        let missing: Vec<&str> = [
            ("SLURM_ARRAY_TASK_MIN", min.is_none()),
            ("SLURM_ARRAY_TASK_COUNT", count.is_none()),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(k, _)| *k)
        .collect();
        if !missing.is_empty() {
            return Err(format!(
                "--shard auto: SLURM_ARRAY_TASK_ID={id} is set but {} missing; run inside an sbatch --array job or set CONCLAB_SHARD=I/N",
                missing.join(" and ") + if missing.len() == 1 { " is" } else { " are" }
            ));
        }
        let (min, count) = (min.unwrap_or(0), count.unwrap_or(0));
        if id < min {
            return Err(format!(
                "--shard auto: SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}"
            ));
        }
        return zero_based(
            id - min,
            count,
            &format!(
                "SLURM_ARRAY_TASK_ID={id} - SLURM_ARRAY_TASK_MIN={min} with SLURM_ARRAY_TASK_COUNT={count}"
            ),
        );
    }
    if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let Some(count) = number("CONCLAB_SHARDS")? else {
            return Err(format!(
                "--shard auto: JOB_COMPLETION_INDEX={index} is set but CONCLAB_SHARDS (the number of shards, the Job's completions) is missing"
            ));
        };
        return zero_based(
            index,
            count,
            &format!("JOB_COMPLETION_INDEX={index} with CONCLAB_SHARDS={count}"),
        );
    }
    Err(format!(
        "--shard auto: no scheduler set a shard; looked for {} (CONCLAB_SHARD=I/N, a Slurm array task, or a Kubernetes Indexed Job)",
        SHARD_VARIABLES.join(", ")
    ))
}

/// Checks that every filter names a column the experiment has.
pub fn check_filters(exp: &Experiment, filters: &[Filter]) -> Result<(), String> {
    let mut allowed = vec![
        "model".to_string(),
        "workers".to_string(),
        "cell".to_string(),
    ];
    allowed.extend(exp.axes.iter().map(|a| a.name.clone()));
    for f in filters {
        if !allowed.contains(&f.key) {
            let names: Vec<&str> = allowed.iter().map(String::as_str).collect();
            return Err(format!(
                "--only {}: experiment {} has no such column; {}",
                f.key,
                exp.name,
                crate::experiment::error::allowed_hint(&f.key, &names)
            ));
        }
    }
    Ok(())
}

pub fn select(cells: Vec<Cell>, filters: &[Filter], shard: Option<Shard>) -> Vec<Cell> {
    cells
        .into_iter()
        .filter(|c| {
            filters
                .iter()
                .all(|f| c.column(&f.key).is_some_and(|v| f.values.contains(&v)))
        })
        .enumerate()
        .filter(|(i, _)| shard.is_none_or(|s| i % s.count == s.index - 1))
        .map(|(_, c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn shard_auto_reads_each_scheduler() {
        let s = |index, count| Ok(Shard { index, count });
        assert_eq!(shard_from_env(env_of(&[("CONCLAB_SHARD", "2/3")])), s(2, 3));
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ];
        assert_eq!(shard_from_env(env_of(&slurm)), s(2, 2));
        let k8s = [("JOB_COMPLETION_INDEX", "0"), ("CONCLAB_SHARDS", "4")];
        assert_eq!(shard_from_env(env_of(&k8s)), s(1, 4));
        assert_eq!("auto".parse::<ShardArg>(), Ok(ShardArg::Auto));
    }

    #[test]
    fn shard_auto_says_what_is_wrong() {
        let none = shard_from_env(env_of(&[])).unwrap_err();
        assert!(SHARD_VARIABLES.iter().all(|v| none.contains(v)), "{none}");
        let far = shard_from_env(env_of(&[
            ("SLURM_ARRAY_TASK_ID", "6"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ]))
        .unwrap_err();
        assert!(
            far.contains("index 2") && far.contains("below the count"),
            "{far}"
        );
        let no_count = shard_from_env(env_of(&[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
        ]))
        .unwrap_err();
        assert!(
            no_count.contains("SLURM_ARRAY_TASK_COUNT is missing"),
            "{no_count}"
        );
        let k8s = shard_from_env(env_of(&[("JOB_COMPLETION_INDEX", "1")])).unwrap_err();
        assert!(k8s.contains("CONCLAB_SHARDS"), "{k8s}");
        let bad = shard_from_env(env_of(&[("CONCLAB_SHARD", "3/2")])).unwrap_err();
        assert!(bad.contains("CONCLAB_SHARD=3/2"), "{bad}");
    }

    #[test]
    fn parses_filters_and_shards() {
        let f: Filter = "model=async,threads".parse().unwrap();
        assert_eq!(f.values, vec!["async", "threads"]);
        assert!("model".parse::<Filter>().is_err());
        assert_eq!(
            "2/3".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 3 }
        );
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
    }

    #[test]
    fn shards_partition_the_cells() {
        let exp = crate::experiment::parse_experiment(
            "t.toml",
            "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thread_pool\", \"async\"]\nworkers = [1, 2, 3]\n",
            std::path::Path::new("t.toml"),
            &[],
        )
        .unwrap();
        let cells = crate::experiment::expand::expand(&exp);
        let a = select(cells.clone(), &[], Some(Shard { index: 1, count: 2 }));
        let b = select(cells.clone(), &[], Some(Shard { index: 2, count: 2 }));
        assert_eq!(a.len() + b.len(), cells.len());
        assert!(a.iter().all(|c| !b.contains(c)));
        let only = select(
            cells,
            &[
                "model=async".parse().unwrap(),
                "workers=1,3".parse().unwrap(),
            ],
            None,
        );
        assert_eq!(
            only.iter().map(|c| c.workers).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }
}
