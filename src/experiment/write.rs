//! The resolved experiment written back as TOML: `experiment.toml` in a results folder.

use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use super::claims::Claim;
use super::repetitions::{Repetitions, percent};
use super::{Experiment, Order};
use crate::duration::format_duration;
use crate::model::Model;
use crate::workload::params::{self, ParamValue, Step};

impl Experiment {
    /// The resolved experiment as TOML: every default written out, for `experiment.toml`.
    /// It loads back to the same cells, ids and claims; `rebuild` reads its `# source` line.
    pub fn resolved_toml(&self) -> String {
        let mut doc = DocumentMut::new();
        doc.insert("name", string(&self.name).into());
        doc.insert("description", string(&self.description).into());
        repetitions(&mut doc, self.repetitions);
        doc.insert("warmup", int(u64::from(self.warmup)).into());
        doc.insert("timeout", string(&format_duration(self.timeout)).into());
        let order = match self.order {
            Order::Grouped => "grouped",
            Order::Interleaved => "interleaved",
        };
        doc.insert("order", string(order).into());
        if let Some(mut first) = doc.key_mut("name") {
            first.leaf_decor_mut().set_prefix(format!(
                "# The resolved experiment that produced these results (defaults filled in).\n# source = {}\n",
                string(&self.path.display().to_string())
            ));
        }
        doc.insert("workload", Item::Table(self.workload_table()));
        doc.insert("matrix", Item::Table(self.matrix_table()));
        doc.insert("models", Item::Table(self.models_table()));
        if let Some(w) = self.chart.timeline_workers {
            let mut chart = Table::new();
            chart.insert("timeline_workers", int(w as u64).into());
            doc.insert("chart", Item::Table(chart));
        }
        if !self.claims.is_empty() {
            let claims: ArrayOfTables = self.claims.iter().map(claim_table).collect();
            doc.insert("claims", Item::ArrayOfTables(claims));
        }
        doc.to_string()
    }

    /// `[workload]` with every default filled in, less what the matrix varies.
    fn workload_table(&self) -> Table {
        let mut table = Table::new();
        table.insert("kind", string(self.kind.name).into());
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
            table.insert(k, toml_value(v).into());
        }
        table
    }

    fn matrix_table(&self) -> Table {
        let mut table = Table::new();
        let models: Array = self.models.iter().map(|m| m.name()).collect();
        table.insert("model", Value::Array(models).into());
        table.insert("workers", workers(&self.workers).into());
        for a in &self.axes {
            let values: Array = a.values.iter().map(toml_value).collect();
            table.insert(&a.name, Value::Array(values).into());
        }
        table
    }

    /// `[models.NAME]` tables: the settings (defaults written out), each custom model's
    /// command, and every model's own worker counts.
    fn models_table(&self) -> Table {
        let own = |table: &mut Table, name: &str| {
            if let Some((_, w)) = self.model_workers.iter().find(|(m, _)| m == name) {
                table.insert("workers", workers(w).into());
            }
        };
        let mut models = Table::new();
        models.set_implicit(true);
        let with_settings = self.settings.models();
        for kind in &with_settings {
            let mut table = Table::new();
            for (key, value) in self.settings.of(*kind) {
                let crate::model::SettingValue::Duration(d) = *value;
                table.insert(key, string(&format_duration(d)).into());
            }
            own(&mut table, kind.name());
            models.insert(kind.name(), Item::Table(table));
        }
        let mut cpython = Table::new();
        cpython.insert("python", string(&self.settings.python).into());
        models.insert("cpython", Item::Table(cpython));
        for m in &self.models {
            if let Model::Custom(c) = m {
                let mut table = Table::new();
                // The folder a relative command runs in is the file's, which a results
                // folder is not: say where it was.
                let dir = string(&c.dir.display().to_string());
                table.decor_mut().set_suffix(format!("   # run in {dir}"));
                let command: Array = c.command.iter().map(String::as_str).collect();
                table.insert("command", Value::Array(command).into());
                if let Some(b) = &c.baseline {
                    table.insert(crate::model::kind::BASELINE_KEY, string(b).into());
                }
                own(&mut table, &c.name);
                models.insert(&c.name, Item::Table(table));
            }
            if let Model::Variant(v) = m {
                let mut table = Table::new();
                table.insert("base", string(v.base.name()).into());
                table.insert("python", string(&v.python).into());
                own(&mut table, &v.name);
                models.insert(&v.name, Item::Table(table));
            }
        }
        for m in &self.models {
            let has_own = self.model_workers.iter().any(|(n, _)| n == m.name());
            let has_table = matches!(m, Model::Rust(k) if with_settings.contains(k));
            if !matches!(m, Model::Custom(_) | Model::Variant(_)) && !has_table && has_own {
                let mut table = Table::new();
                own(&mut table, m.name());
                models.insert(m.name(), Item::Table(table));
            }
        }
        models
    }
}

fn repetitions(doc: &mut DocumentMut, r: Repetitions) {
    match r {
        Repetitions::Fixed(n) => {
            doc.insert("repetitions", int(u64::from(n)).into());
        }
        Repetitions::Auto {
            precision,
            min,
            max,
        } => {
            doc.insert("repetitions", string("auto").into());
            doc.insert("precision", string(&percent(precision)).into());
            doc.insert("min_repetitions", int(u64::from(min)).into());
            doc.insert("max_repetitions", int(u64::from(max)).into());
        }
    }
}

/// One `[[claims]]` table, its cell written inline as in the file.
fn claim_table(c: &Claim) -> Table {
    let mut table = Table::new();
    table.insert("say", string(&c.say).into());
    let cell: InlineTable = c
        .cell
        .iter()
        .map(|s| (s.key.as_str(), toml_value(&s.value)))
        .collect();
    table.insert("cell", Value::InlineTable(cell).into());
    table.insert("expect", string(&c.expect_text()).into());
    table
}

fn string(s: &str) -> Value {
    Value::from(s)
}

/// Counts are bounded far below `i64::MAX` by the checker.
fn int(n: u64) -> Value {
    Value::from(i64::try_from(n).unwrap_or(i64::MAX))
}

fn workers(list: &[usize]) -> Value {
    Value::Array(list.iter().map(|&w| int(w as u64)).collect())
}

/// A checked parameter value as TOML that the checker reads back to the same value.
pub(super) fn toml_value(v: &ParamValue) -> Value {
    match v {
        ParamValue::Int(n) => int(*n),
        ParamValue::Float(f) => Value::from(*f),
        ParamValue::Dur(d) => string(&format_duration(*d)),
        ParamValue::Str(t) => string(t),
        ParamValue::Strs(list) => Value::Array(list.iter().map(String::as_str).collect()),
        ParamValue::Table(t) => {
            Value::InlineTable(t.iter().map(|(k, v)| (k.as_str(), string(v))).collect())
        }
        ParamValue::Steps(list) => Value::Array(list.iter().map(step).collect()),
    }
}

/// `{ kind = "http", latency = "200ms" }`
fn step(s: &Step) -> Value {
    let mut table = InlineTable::new();
    table.insert("kind", string(s.kind.name));
    for (k, v) in &s.params {
        table.insert(k, toml_value(v));
    }
    Value::InlineTable(table)
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

    /// Every shipped experiment, and the results folders kept as fixtures (written by
    /// earlier versions), written out and read back: the same experiment, cell for cell.
    #[test]
    fn every_shipped_experiment_round_trips_through_the_resolved_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files =
            crate::experiment::discover(&[root.join("experiments"), root.join("benchmarks")])
                .unwrap();
        for fixture in ["io-bound", "race"] {
            files.push(
                root.join("tests/fixtures/charts")
                    .join(fixture)
                    .join("experiment.toml"),
            );
        }
        for file in files {
            let original = crate::experiment::load(&file, &[]).unwrap();
            let text = original.resolved_toml();
            // Read from the same path, so custom models resolve against the same folder.
            let again = parse_experiment("resolved.toml", &text, &original.path, &[])
                .unwrap_or_else(|e| panic!("{}: {e}\n{text}", file.display()));
            let what = format!("{}:\n{text}", file.display());
            assert_eq!(expand::expand(&again), expand::expand(&original), "{what}");
            assert_eq!(again.claims, original.claims, "{what}");
            assert_eq!(
                (
                    &again.name,
                    &again.description,
                    again.repetitions,
                    again.warmup
                ),
                (
                    &original.name,
                    &original.description,
                    original.repetitions,
                    original.warmup
                ),
                "{what}"
            );
            assert_eq!(
                (again.timeout, again.order, &again.chart),
                (original.timeout, original.order, &original.chart),
                "{what}"
            );
            assert_eq!(again.resolved_toml(), text, "writing is stable: {what}");
        }
    }
}
