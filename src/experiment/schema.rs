//! The JSON Schema of experiment files (`conclab schema`), built from the same tables the
//! checker uses, so editors and the checker agree.

use serde_json::{Map, Value, json};

use crate::model::kind::BASELINE_KEY;
use crate::model::{Model, cpython};
use crate::workload::params::{Default, KindDef, ParamType};

const DURATION: &str = "^[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)$";

fn param_schema(ty: ParamType, doc: &str) -> Value {
    let mut v = match ty {
        ParamType::Count { min, max } => {
            json!({ "type": "integer", "minimum": min, "maximum": max })
        }
        ParamType::Duration { .. } => json!({ "$ref": "#/$defs/duration" }),
        ParamType::Fraction => json!({ "type": "number", "minimum": 0.0, "maximum": 1.0 }),
        ParamType::Strings => {
            json!({ "type": "array", "items": { "type": "string" }, "minItems": 1 })
        }
        ParamType::Urls => {
            json!({ "type": "array", "items": { "type": "string", "pattern": "^https?://" }, "minItems": 1 })
        }
        ParamType::DigestTable => {
            json!({ "type": "object", "additionalProperties": { "type": "string", "pattern": "^[0-9a-f]{128}$" } })
        }
        ParamType::Choice(c) => {
            // A choice that reads as a number may be written as one (http_version = 2).
            let numbers = c.iter().filter_map(|s| {
                (s.parse::<i64>().map(|n| json!(n)))
                    .or_else(|_| s.parse::<f64>().map(|n| json!(n)))
                    .ok()
            });
            let all: Vec<Value> = c.iter().map(|s| json!(s)).chain(numbers).collect();
            json!({ "enum": all })
        }
        ParamType::Steps { .. } => {
            json!({ "type": "array", "items": { "$ref": "#/$defs/step" }, "minItems": 1 })
        }
    };
    v["description"] = json!(doc);
    v
}

/// The JSON value of a default, as the file would write it; None when there is no fixed one.
pub fn default_value(d: Default) -> Option<Value> {
    match d {
        Default::Int(n) => Some(json!(n)),
        Default::Dur(s) | Default::Str(s) => Some(json!(s)),
        Default::Float(f) => Some(json!(f)),
        Default::Strs(v) => Some(json!(v)),
        Default::Absent | Default::Required | Default::LenOf(..) => None,
    }
}

/// A table of workload kinds: `kind` names one, and that kind's parameters apply. Each
/// kind is an `if kind == NAME then ...` branch rather than one of several `oneOf`
/// alternatives, so a validator reports a wrong value once, at its key, instead of once
/// per kind it failed to match; a step leaves out `tasks`.
fn kinds_schema<'a>(kinds: impl Iterator<Item = &'a KindDef>, step: bool) -> Value {
    let mut names = Vec::new();
    let mut branches = Vec::new();
    for k in kinds {
        names.push(json!(k.name));
        let mut props = Map::new();
        props.insert("kind".into(), json!(true));
        for p in k.params.iter().filter(|p| !(step && p.name == "tasks")) {
            let mut v = param_schema(p.ty, p.doc);
            if let Some(d) = default_value(p.default) {
                v["default"] = d;
            }
            props.insert(p.name.into(), v);
        }
        // A parameter without a default (`steps`) is not required here: it may be an axis.
        branches.push(json!({
            "if": { "properties": { "kind": { "const": k.name } }, "required": ["kind"] },
            "then": { "description": k.doc, "properties": props, "additionalProperties": false }
        }));
    }
    json!({
        "type": "object",
        "required": ["kind"],
        "properties": { "kind": { "enum": names, "description": "the workload kind; its parameters follow" } },
        "allOf": branches
    })
}

pub fn schema() -> Value {
    let mut workload = kinds_schema(crate::workload::kinds(), false);
    workload["description"] = json!("what every task does: a kind and its parameters");
    let mut step = kinds_schema(crate::workload::step_kinds(), true);
    step["description"] = json!("one step of a task: a kind and its parameters but tasks");
    let models: Vec<&str> = Model::builtin_names();
    let mut model_settings = Map::new();
    let workers = json!({ "type": "array", "minItems": 1, "items": { "type": "integer", "minimum": 1, "maximum": crate::workload::params::MAX_WORKERS }, "description": "this model's worker counts, instead of [matrix] workers" });
    for m in &models {
        // A model's own settings come from its file; any model may run at worker counts
        // of its own.
        let mut props = Map::new();
        for setting in Model::builtin(m)
            .and_then(|m| m.about())
            .map_or(&[][..], |a| a.settings)
        {
            let mut v = setting.default.schema();
            v["description"] = json!(setting.doc);
            props.insert(setting.key.into(), v);
        }
        props.insert("workers".into(), workers.clone());
        model_settings.insert(
            m.to_string(),
            json!({ "type": "object", "properties": props, "additionalProperties": false }),
        );
    }
    model_settings.insert(cpython::TABLE.into(), cpython::table_schema());
    let custom_model = json!({
        "type": "object",
        "description": "a model of your own: a program that speaks the protocol of docs/external-models.md",
        "required": ["command"],
        "properties": { "command": { "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "the program and its arguments; relative paths are relative to this file" }, BASELINE_KEY: { "type": "string", "default": "sequential", "description": "the model its speedups are over, one of [matrix] model: a built-in one (e.g. \"cpython_sequential\" for a Python program), another of your own, or itself (then at its fewest workers)" }, "workers": workers },
        "additionalProperties": false
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "conclab experiment",
        "description": "A workload, the execution models to compare, worker counts and repetitions.",
        "type": "object",
        "required": ["workload", "matrix"],
        "additionalProperties": false,
        "properties": {
            "name": { "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$", "description": "results folder name; default: the file stem" },
            "description": { "type": "string", "description": "the lesson this experiment shows" },
            "repetitions": { "oneOf": [ { "type": "integer", "minimum": 1, "maximum": 100000 }, { "const": "auto" } ], "default": 3, "description": "measured repetitions per cell, or \"auto\": repeat until the median's 95% interval is within `precision`" },
            "precision": { "type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*%$", "default": "5%", "description": "with repetitions = \"auto\": the target half-width of the median's interval, relative to the median" },
            "min_repetitions": { "type": "integer", "minimum": 1, "maximum": 100000, "default": 3, "description": "with repetitions = \"auto\": at least this many" },
            "max_repetitions": { "type": "integer", "minimum": 1, "maximum": 100000, "default": 20, "description": "with repetitions = \"auto\": at most this many" },
            "warmup": { "type": "integer", "minimum": 0, "maximum": 100000, "default": 0, "description": "unmeasured repetitions of each cell before the measured ones" },
            "timeout": { "$ref": "#/$defs/duration", "default": "10m", "description": "limit for one repetition of one cell" },
            "order": { "enum": ["interleaved", "grouped"], "default": "interleaved", "description": "interleaved: repetition k of every cell before repetition k+1 of any; grouped: every repetition of a cell, then the next cell" },
            "workload": workload,
            "matrix": {
                "type": "object",
                "description": "the axes whose cartesian product is the set of cells",
                "required": ["model"],
                "properties": {
                    "model": { "type": "array", "items": { "anyOf": [ { "enum": models }, { "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$", "description": "a model defined under [models.NAME] with a command" } ] }, "minItems": 1, "uniqueItems": true, "description": "the execution models to compare" },
                    "workers": { "type": "array", "items": { "type": "integer", "minimum": 1, "maximum": crate::workload::params::MAX_WORKERS }, "minItems": 1, "default": [1], "description": "worker counts: pool size, process count or in-flight limit, as each model reads it" }
                },
                "additionalProperties": { "type": "array", "minItems": 1, "description": "any workload parameter, as an axis" }
            },
            "models": { "type": "object", "description": "settings of the models, one table each: [models.NAME]; a custom model (command) or an interpreter variant (base, python)", "properties": model_settings, "additionalProperties": { "oneOf": [custom_model, cpython::variant_schema(workers)] } },
            "chart": {
                "type": "object",
                "description": "how the charts are drawn",
                "properties": { "timeline_workers": { "type": "integer", "minimum": 1, "maximum": crate::workload::params::MAX_WORKERS, "description": "the worker count whose task timeline is drawn; default: the largest count every worker-dependent model ran at" } },
                "additionalProperties": false
            },
            "claims": {
                "type": "array",
                "description": "the lesson as claims on the summary, checked after every run",
                "items": {
                    "type": "object",
                    "required": ["say", "cell", "expect"],
                    "properties": {
                        "say": { "type": "string", "description": "the claim in words, as the verdicts print it" },
                        "cell": { "type": "object", "minProperties": 1, "description": "the cells the claim is about: model, workers and any matrix axis" },
                        "expect": { "type": "string", "pattern": "^\\s*(speedup|vs_ideal|median_s|parallelism|core_speed|check)\\s*(>=|<=|==|>|<)\\s*\\S+\\s*$", "description": "METRIC OP VALUE, e.g. \"speedup >= 1.6\" or \"check == race\"" }
                    },
                    "additionalProperties": false
                }
            }
        },
        "$defs": {
            "duration": { "type": "string", "pattern": DURATION, "description": "a number and a unit: \"250us\", \"1.5s\", \"2m\"" },
            "step": step
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The kinds a kind-discriminated table names, in order, with each branch's properties.
    fn branches(table: &Value) -> Vec<(&str, &Value)> {
        table["allOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let kind = b["if"]["properties"]["kind"]["const"].as_str().unwrap();
                (kind, &b["then"]["properties"])
            })
            .collect()
    }

    #[test]
    fn names_every_kind_and_model() {
        let s = super::schema();
        let kinds: Vec<&str> = branches(&s["properties"]["workload"])
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kinds, crate::workload::kind_names());
        assert_eq!(
            s["properties"]["workload"]["properties"]["kind"]["enum"],
            serde_json::json!(crate::workload::kind_names())
        );
        assert_eq!(
            s["properties"]["matrix"]["properties"]["model"]["items"]["anyOf"][0]["enum"]
                .as_array()
                .unwrap()
                .len(),
            crate::model::Model::builtin_names().len()
        );
        assert_eq!(
            s["properties"]["models"]["additionalProperties"]["oneOf"][0]["required"],
            serde_json::json!(["command"])
        );
        assert_eq!(
            s["properties"]["models"]["additionalProperties"]["oneOf"][1]["required"],
            serde_json::json!(["base", "python"])
        );
        let steps = branches(&s["$defs"]["step"]);
        let kinds: Vec<&str> = steps.iter().map(|(k, _)| *k).collect();
        let step_kinds: Vec<&str> = crate::workload::step_kinds().map(|k| k.name).collect();
        assert_eq!(kinds, step_kinds);
        assert!(
            steps.iter().all(|(_, props)| props.get("tasks").is_none()),
            "a step takes no tasks"
        );
    }

    #[test]
    fn each_kind_states_its_parameters_with_their_defaults() {
        let s = super::schema();
        for (kind, props) in branches(&s["properties"]["workload"]) {
            let def = crate::workload::kind(kind).unwrap();
            for p in def.params {
                let v = &props[p.name];
                assert!(v.is_object(), "{kind}.{}", p.name);
                assert_eq!(v.get("default").cloned(), super::default_value(p.default));
            }
            assert_eq!(props.as_object().unwrap().len(), def.params.len() + 1);
        }
    }
}
