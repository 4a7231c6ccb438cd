//! Which cells a command touches: `--only KEY=V,V` filters and `--shard I/N`.

use crate::spec::{Cell, Experiment};

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
                crate::spec::error::allowed_hint(&f.key, &names)
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
        let exp = crate::spec::parse_experiment(
            "t.toml",
            "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thread_pool\", \"async\"]\nworkers = [1, 2, 3]\n",
            std::path::Path::new("t.toml"),
            &[],
        )
        .unwrap();
        let cells = crate::spec::matrix::expand(&exp);
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
