//! The resolved experiment written back as TOML: `experiment.toml` in a results folder.

use super::duration::format_duration;
use super::params::{self, ParamValue};
use super::{Experiment, Order, steps};
use crate::model::Model;

impl Experiment {
    /// The resolved experiment as TOML: every default written out, for `experiment.toml`.
    pub fn resolved_toml(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let q = |t: &str| toml::Value::String(t.to_string()).to_string();
        let _ = writeln!(
            s,
            "# The resolved experiment that produced these results (defaults filled in)."
        );
        let _ = writeln!(s, "# source = {}", q(&self.path.display().to_string()));
        let _ = writeln!(s, "name = {}", q(&self.name));
        let _ = writeln!(s, "description = {}", q(&self.description));
        s.push_str(&self.repetitions.toml());
        let _ = writeln!(s, "warmup = {}", self.warmup);
        let _ = writeln!(s, "timeout = {}", q(&format_duration(self.timeout)));
        let _ = writeln!(
            s,
            "order = {}",
            q(if self.order == Order::Grouped {
                "grouped"
            } else {
                "interleaved"
            })
        );
        let _ = writeln!(s, "\n[workload]\nkind = {}", q(self.kind.name));
        let mut base = self.workload.clone();
        let axis_names: Vec<&str> = self.axes.iter().map(|a| a.name.as_str()).collect();
        params::fill_defaults(self.kind, &mut base);
        for (k, v) in &base {
            // A length taken from an axis (tasks = len(inputs)) is derived again per cell.
            let derived_from_axis = matches!(self.kind.param(k).map(|p| p.default), Some(params::Default::LenOf(src, _)) if axis_names.contains(&src))
                && !self.workload.contains_key(k);
            if axis_names.contains(&k.as_str()) || derived_from_axis {
                continue;
            }
            let _ = writeln!(s, "{k} = {}", toml_value(v));
        }
        let _ = writeln!(s, "\n[matrix]");
        let models: Vec<String> = self.models.iter().map(|m| q(m.name())).collect();
        let _ = writeln!(s, "model = [{}]", models.join(", "));
        let workers: Vec<String> = self.workers.iter().map(|w| w.to_string()).collect();
        let _ = writeln!(s, "workers = [{}]", workers.join(", "));
        for a in &self.axes {
            let values: Vec<String> = a.values.iter().map(toml_value).collect();
            let _ = writeln!(s, "{} = [{}]", a.name, values.join(", "));
        }
        // A model's own worker counts go into its table, whether or not it has settings.
        let own = |name: &str| {
            self.model_workers
                .iter()
                .find(|(m, _)| m == name)
                .map(|(_, w)| {
                    let w: Vec<String> = w.iter().map(|n| n.to_string()).collect();
                    format!("workers = [{}]\n", w.join(", "))
                })
                .unwrap_or_default()
        };
        let _ = write!(
            s,
            "\n[models.gil_threads]\nswitch_interval = {}\n{}",
            q(&format_duration(self.settings.switch_interval)),
            own("gil_threads")
        );
        let _ = writeln!(
            s,
            "\n[models.cpython]\npython = {}",
            q(&self.settings.python)
        );
        for m in &self.models {
            if let Model::Custom(c) = m {
                let words: Vec<String> = c.command.iter().map(|w| q(w)).collect();
                let _ = write!(
                    s,
                    "\n[models.{}]   # run in {}\ncommand = [{}]\n{}",
                    c.name,
                    q(&c.dir.display().to_string()),
                    words.join(", "),
                    own(&c.name)
                );
            }
        }
        for m in &self.models {
            if !matches!(m, Model::Custom(_)) && m.name() != "gil_threads" {
                let w = own(m.name());
                if !w.is_empty() {
                    let _ = write!(s, "\n[models.{}]\n{w}", m.name());
                }
            }
        }
        if let Some(w) = self.chart.timeline_workers {
            let _ = writeln!(s, "\n[chart]\ntimeline_workers = {w}");
        }
        for c in &self.claims {
            s.push_str(&c.toml());
        }
        s
    }
}

pub(super) fn toml_value(v: &ParamValue) -> String {
    let q = |t: &str| toml::Value::String(t.to_string()).to_string();
    match v {
        ParamValue::Int(n) => n.to_string(),
        ParamValue::Float(f) => format!("{f:?}"),
        ParamValue::Dur(d) => q(&format_duration(*d)),
        ParamValue::Str(t) => q(t),
        ParamValue::Strs(list) => format!(
            "[{}]",
            list.iter().map(|t| q(t)).collect::<Vec<_>>().join(", ")
        ),
        ParamValue::Table(t) => format!(
            "{{ {} }}",
            t.iter()
                .map(|(k, v)| format!("{} = {}", q(k), q(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ParamValue::Steps(list) => steps::steps_toml(list, toml_value),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::experiment::{expand, parse_experiment};

    fn parse(text: &str) -> Experiment {
        parse_experiment("t.toml", text, Path::new("t.toml"), &[]).unwrap()
    }

    #[test]
    fn the_resolved_file_defines_the_same_cells() {
        for text in [
            "[workload]\nkind = \"hash_chain\"\niterations = 10\n[matrix]\nmodel = [\"sequential\", \"threads\"]\ninputs = [[\"a\"], [\"b\", \"c\"]]\n",
            "name = \"x\"\n[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"async\", \"gil_threads\"]\nworkers = [1, 8]\nduration = [\"1ms\", \"1.5s\"]\n[models.gil_threads]\nswitch_interval = \"1ms\"\n",
            "[workload]\nkind = \"hash_chain\"\nexpect = { pass = \"795551a1c6923576e0335d47fafc233b63573c919a989a052f93bf2ab4d314818fbc515831a25c59ddbef2c3b259c6c3df7250fffb2b5ed9c482d9a8e28ed7fa\" }\n[matrix]\nmodel = [\"rayon\"]\n",
            "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thread_pool\", \"async\", \"gil_threads\"]\nworkers = [1, 2]\n[models.async]\nworkers = [1, 5]\n[models.gil_threads]\nworkers = [3]\n",
        ] {
            let original = parse(text);
            let resolved = parse(&original.resolved_toml());
            let ids = |e: &Experiment| {
                expand::expand(e)
                    .into_iter()
                    .map(|c| c.id)
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                ids(&original),
                ids(&resolved),
                "{}",
                original.resolved_toml()
            );
        }
    }

    #[test]
    fn claims_round_trip_through_the_resolved_file() {
        let original = parse(
            "[workload]\nkind = \"counter\"\n[matrix]\nmodel = [\"sequential\", \"thread_pool\"]\nworkers = [2, 5]\nsync = [\"none\", \"mutex\"]\nwait = [\"1ms\", \"1.5s\"]\n\n[[claims]]\nsay = \"a \\\"lock\\\" fixes it\"\ncell = { model = \"thread_pool\", workers = 5, sync = \"mutex\", wait = \"1500ms\" }\nexpect = \"check == pass\"\n\n[[claims]]\nsay = \"faster\"\ncell = { model = \"thread_pool\" }\nexpect = \"speedup>1.5\"\n",
        );
        assert_eq!(original.claims.len(), 2);
        assert_eq!(
            original.claims[0].cell_text(),
            "model=thread_pool workers=5 sync=mutex wait=1500ms"
        );
        let resolved = parse(&original.resolved_toml());
        assert_eq!(
            resolved.claims,
            original.claims,
            "{}",
            original.resolved_toml()
        );
    }
}
