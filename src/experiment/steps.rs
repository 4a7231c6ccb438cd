//! Checking `steps = [{ kind = "http", latency = "200ms" }, ...]`, the parameter of the
//! `steps` workload.

use super::tree::{Entry, Node, Value};
use super::{Axis, Checker};
use crate::model::Model;
use crate::workload::http::{HTTP_VERSION, HttpConfig};
use crate::workload::params::{KindDef, ParamType, Params, Step, StepUse};
use crate::workload::steps::{EXAMPLE, STEPS_PARAM, StepsConfig};
use crate::workload::{self, Kind};

/// What a `steps` value must be, as the messages say.
const STEPS: ParamType = ParamType::Steps { example: EXAMPLE };

impl Checker {
    /// Every step a table with a known `kind` and that kind's parameters but `tasks`; at
    /// most one counter step. Steps are numbered from 1 in keys: `workload.steps[2].duration`.
    pub(super) fn steps(&mut self, node: &Node, key: &str) -> Option<Vec<Step>> {
        let Value::Array(items) = &node.value else {
            self.at_node(
                node,
                key,
                format!(
                    "must be {}, got {}",
                    STEPS.describe(),
                    node.value.type_name()
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.at_node(
                node,
                key,
                format!("must be {}, got an empty array", STEPS.describe()),
            );
            return None;
        }
        let mut steps = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(step) = self.step(item, &format!("{key}[{}]", i + 1)) {
                steps.push(step);
            }
        }
        // A kind allowed once per task: its second step is refused, with the kind's reason.
        for (i, step) in steps.iter().enumerate() {
            let StepUse::OncePerTask(why) = step.kind.step else {
                continue;
            };
            if steps[..i].iter().any(|s| s.kind.name == step.kind.name) {
                self.at_node(
                    &items[i],
                    &format!("{key}[{}]", i + 1),
                    format!("a task may have one {} step: {why}", step.kind.name),
                );
                return None;
            }
        }
        (steps.len() == items.len()).then_some(steps)
    }

    /// The checks a kind's own parameters bring: a `steps` list must be given, and
    /// HTTP/2 (in a request or a step) only with models whose client speaks it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn kind_rules(
        &mut self,
        kind: Option<&KindDef>,
        root: &Node,
        models: Option<&[Model]>,
        params: &Params,
        axes: &[Axis],
        workload: &[Entry],
        matrix: &[Entry],
    ) {
        let Some(kind) = kind else { return };
        let takes_steps = kind.param(STEPS_PARAM).is_some();
        if takes_steps {
            self.steps_given(root, workload, matrix);
        }
        let Some(models) = models else { return };
        if kind.param(HTTP_VERSION).is_some() {
            self.http2_models(models, params, axes, workload, matrix);
        }
        if takes_steps {
            self.steps_http2(models, workload, matrix);
        }
    }

    /// `steps` has no default: it must be written in [workload] or as an axis.
    pub(super) fn steps_given(&mut self, root: &Node, workload: &[Entry], matrix: &[Entry]) {
        if workload.iter().chain(matrix).any(|e| e.key == STEPS_PARAM) {
            return;
        }
        let kind = StepsConfig::DEF.name;
        let w = root.get("workload").expect("checked before");
        self.at_key(
            w,
            "workload",
            format!(
                "missing key \"steps\" for kind {kind}: the steps of every task, in order, e.g. steps = {EXAMPLE}"
            ),
        );
    }

    fn step(&mut self, node: &Node, key: &str) -> Option<Step> {
        let Some(entries) = node.entries() else {
            self.at_node(
                node,
                key,
                format!(
                    "must be a table such as {{ kind = \"sleep\", duration = \"1s\" }}, got {}",
                    node.value.type_name()
                ),
            );
            return None;
        };
        let step_kinds: Vec<&str> = workload::step_kinds().map(|k| k.name).collect();
        let Some(kind) = entries.iter().find(|e| e.key == "kind") else {
            self.at_node(
                node,
                key,
                format!(
                    "missing key \"kind\" in a step; allowed: {}",
                    step_kinds.join(", ")
                ),
            );
            return None;
        };
        let kind_key = format!("{key}.kind");
        let name = self.choice(&kind.node, &kind_key, &step_kinds)?;
        let def = workload::kind(&name).expect("step kinds are workload kinds");
        let mut allowed = vec!["kind"];
        allowed.extend(def.param_names().into_iter().filter(|p| *p != "tasks"));
        let mut params = Params::new();
        let mut ok = true;
        for e in entries.iter().filter(|e| e.key != "kind") {
            let k = format!("{key}.{}", e.key);
            match def.param(&e.key) {
                Some(_) if e.key == "tasks" => {
                    self.at_key(
                        e,
                        &k,
                        "a step takes no \"tasks\": every task runs each of its steps once; set tasks in [workload]".into(),
                    );
                    ok = false;
                }
                Some(p) => match self.param(&e.node, &k, p.ty) {
                    Some(v) => {
                        params.insert(e.key.clone(), v);
                    }
                    None => ok = false,
                },
                None => {
                    self.unknown_key(e, &k, &allowed, &format!("a {name} step"));
                    ok = false;
                }
            }
        }
        ok.then_some(Step { kind: def, params })
    }

    /// `http_version = "2"` in an http step, with a model whose client speaks HTTP/1.1
    /// only (see `http2_models`): found in the steps of `[workload]` and of a `steps` axis.
    pub(super) fn steps_http2(&mut self, models: &[Model], workload: &[Entry], matrix: &[Entry]) {
        let blocking: Vec<&str> = models
            .iter()
            .filter(|m| !m.waits_async())
            .map(|m| m.name())
            .collect();
        if blocking.is_empty() {
            return;
        }
        let mut found: Vec<(String, &Node)> = Vec::new();
        if let Some(e) = workload.iter().find(|e| e.key == STEPS_PARAM) {
            found.extend(http2_versions(&e.node, "workload.steps"));
        }
        if let Some(Value::Array(values)) = matrix
            .iter()
            .find(|e| e.key == STEPS_PARAM)
            .map(|e| &e.node.value)
        {
            for v in values {
                found.extend(http2_versions(v, "matrix.steps"));
            }
        }
        for (key, node) in found {
            self.at_node(
                node,
                &key,
                format!(
                    "http_version \"2\" is spoken by the async models only (async, async_pool); {} use ureq, which speaks HTTP/1.1: list them in an experiment of their own, or keep http_version = \"1.1\"",
                    blocking.join(", ")
                ),
            );
        }
    }
}

/// The `http_version` nodes asking for HTTP/2 in the http steps of one steps array.
fn http2_versions<'n>(steps: &'n Node, key: &str) -> Vec<(String, &'n Node)> {
    let Value::Array(items) = &steps.value else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let is_http = matches!(item.get("kind").map(|k| &k.node.value), Some(Value::Str(k)) if k == HttpConfig::DEF.name);
        let Some(version) = item.get(HTTP_VERSION).filter(|_| is_http) else {
            continue;
        };
        let two = match &version.node.value {
            Value::Str(s) => s == "2",
            Value::Int(n) => *n == 2,
            Value::Float(f) => *f == 2.0,
            _ => false,
        };
        if two {
            found.push((format!("{key}[{}].http_version", i + 1), &version.node));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Experiment, expand, parse_experiment};
    use crate::workload::WorkloadConfig;

    fn errors(workload: &str, models: &str) -> Vec<String> {
        let text =
            format!("[workload]\nkind = \"steps\"\n{workload}\n[matrix]\nmodel = [{models}]\n");
        match parse_experiment("s.toml", &text, Path::new("s.toml"), &[]) {
            Ok(_) => Vec::new(),
            Err(e) => e.diagnostics.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn parse(workload: &str) -> Experiment {
        let text = format!(
            "[workload]\nkind = \"steps\"\n{workload}\n[matrix]\nmodel = [\"sequential\"]\n"
        );
        parse_experiment("s.toml", &text, Path::new("s.toml"), &[]).unwrap()
    }

    #[test]
    fn steps_resolve_to_their_kinds_with_defaults_and_the_tasks_of_the_workload() {
        let e = parse(
            "tasks = 3\nsteps = [{ kind = \"http\", latency = \"200ms\" }, { kind = \"sleep\", duration = \"1s\" }, { kind = \"hash_chain\", iterations = 10 }, { kind = \"counter\", sync = \"mutex\" }]",
        );
        let cell = &expand::expand(&e)[0];
        let WorkloadConfig::Steps(c) = &cell.workload else {
            panic!("{:?}", cell.workload)
        };
        assert_eq!(c.tasks, 3);
        let kinds: Vec<&str> = c.steps.iter().map(WorkloadConfig::kind).collect();
        assert_eq!(kinds, ["http", "sleep", "hash_chain", "counter"]);
        assert!(c.steps.iter().all(|s| s.tasks() == 3), "{c:?}");
        match &c.steps[0] {
            WorkloadConfig::Http(h) => {
                assert_eq!(h.latency.as_millis(), 200);
                assert_eq!(h.body_bytes, 1024, "defaults filled");
            }
            other => panic!("{other:?}"),
        }
        match &c.steps[2] {
            WorkloadConfig::HashChain(h) => assert_eq!(h.inputs.len(), 6),
            other => panic!("{other:?}"),
        }
        assert_eq!(cell.workload.hashes(), Some(30));
        assert!(cell.workload.needs_server());
        // The resolved file writes every step's defaults out and defines the same cell.
        let resolved = e.resolved_toml();
        assert!(
            resolved.contains("{ kind = \"sleep\", duration = \"1s\" }"),
            "{resolved}"
        );
        assert!(resolved.contains("body_bytes = 1024"), "{resolved}");
        let again = parse_experiment("r.toml", &resolved, Path::new("r.toml"), &[]).unwrap();
        assert_eq!(expand::expand(&again)[0].id, cell.id);
    }

    #[test]
    fn bad_steps_are_reported_with_their_positions() {
        let e = errors(
            "steps = [{ kind = \"slep\" }, { kind = \"sleep\", tasks = 3 }, { kind = \"http\", latency = 5 }, 7, { duration = \"1s\" }, { kind = \"sleep\", duraton = \"1s\" }]",
            "\"sequential\"",
        );
        let expected = [
            "s.toml:3:19: workload.steps[1].kind: \"slep\" is not allowed; allowed: sleep, http, hash_chain, counter; did you mean \"sleep\"?",
            "s.toml:3:47: workload.steps[2].tasks: a step takes no \"tasks\"",
            "s.toml:3:87: workload.steps[3].latency: must be a string: a duration with its unit, e.g. \"5ms\" or \"5s\"; got the number 5",
            "s.toml:3:92: workload.steps[4]: must be a table such as { kind = \"sleep\", duration = \"1s\" }, got an integer",
            "s.toml:3:95: workload.steps[5]: missing key \"kind\" in a step; allowed: sleep, http, hash_chain, counter",
            "s.toml:3:134: workload.steps[6].duraton: unknown key \"duraton\" in a sleep step; allowed: kind, duration; did you mean \"duration\"?",
        ];
        assert_eq!(e.len(), expected.len(), "{e:#?}");
        for (got, want) in e.iter().zip(expected) {
            assert!(got.starts_with(want), "{got}\n  wanted {want}");
        }
    }

    #[test]
    fn steps_must_be_given_and_not_empty_and_hold_one_counter() {
        let missing = errors("tasks = 2", "\"sequential\"");
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(
            missing[0].contains("workload: missing key \"steps\""),
            "{missing:?}"
        );
        let empty = errors("steps = []", "\"sequential\"");
        assert!(
            empty[0].starts_with("s.toml:3:9: workload.steps: must be a non-empty array of steps such as [{ kind = \"http\""),
            "{empty:?}"
        );
        let table = errors("steps = { kind = \"sleep\" }", "\"sequential\"");
        assert!(table[0].contains("got a table"), "{table:?}");
        let two = errors(
            "steps = [{ kind = \"counter\" }, { kind = \"sleep\" }, { kind = \"counter\", sync = \"mutex\" }]",
            "\"sequential\"",
        );
        assert_eq!(two.len(), 1, "{two:?}");
        assert!(
            two[0].starts_with("s.toml:3:52: workload.steps[3]: a task may have one counter step"),
            "{two:?}"
        );
        // Steps are an axis like any parameter; each value is checked the same way.
        let text = "[workload]\nkind = \"steps\"\n[matrix]\nmodel = [\"sequential\"]\nsteps = [[{ kind = \"sleep\" }], [{ kind = \"hash_chain\", iterations = 0 }]]\n";
        let axis = parse_experiment("s.toml", text, Path::new("s.toml"), &[]).unwrap_err();
        assert_eq!(axis.diagnostics.len(), 1, "{axis}");
        assert_eq!(axis.diagnostics[0].key, "matrix.steps[1].iterations");
        let fine = text.replace("iterations = 0", "iterations = 5");
        let e = parse_experiment("s.toml", &fine, Path::new("s.toml"), &[]).unwrap();
        let cells = expand::expand(&e);
        assert_eq!(cells.len(), 2);
        assert_eq!(
            cells[1].axes,
            [("steps".to_string(), "hash_chain(iterations=5)".to_string())]
        );
    }

    #[test]
    fn http2_in_a_step_is_refused_for_models_whose_client_speaks_only_http1() {
        let steps = "steps = [{ kind = \"sleep\" }, { kind = \"http\", http_version = 2 }]";
        let refused = errors(steps, "\"async\", \"async_to_thread\"");
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].contains("workload.steps[2].http_version")
                && refused[0].contains("async_to_thread use ureq"),
            "{refused:?}"
        );
        assert_eq!(
            errors(steps, "\"async\", \"async_pool\""),
            Vec::<String>::new()
        );
    }
}
