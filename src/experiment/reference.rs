//! The experiment-file reference (docs/reference.md, `conclab reference`), written from the
//! JSON Schema and the kinds' and models' own tables, so it names every key the checker takes.

use std::fmt::Write;

use serde_json::Value;

use super::schema::{default_value, schema};
use crate::duration::format_duration;
use crate::model::Model;
use crate::model::descriptor::SettingValue;
use crate::workload::params::{Default, KindDef, StepUse};

/// How docs/reference.md is brought up to date; the drift test prints it too.
pub const REGENERATE: &str = "cargo run -- reference > docs/reference.md";

/// What a schema value takes, in words.
fn takes(v: &Value) -> String {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        return match r.rsplit('/').next() {
            Some("duration") => "a duration such as `\"100ms\"`".into(),
            Some(other) => format!("a {other} table"),
            None => r.into(),
        };
    }
    if let Some(c) = v.get("const") {
        return format!("`{c}`");
    }
    if let Some(e) = v.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = e.iter().map(|x| format!("`{x}`")).collect();
        return format!("one of {}", names.join(", "));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = v.get(key).and_then(Value::as_array) {
            let words: Vec<String> = alts.iter().map(takes).collect();
            return words.join(", or ");
        }
    }
    let range = |what: &str| match (v.get("minimum"), v.get("maximum")) {
        (Some(lo), Some(hi)) => format!("{what} from {lo} to {hi}"),
        (Some(lo), None) => format!("{what} >= {lo}"),
        _ => what.to_string(),
    };
    match v.get("type").and_then(Value::as_str) {
        Some("integer") => range("a whole number"),
        Some("number") => range("a number"),
        Some("string") => match v.get("pattern").and_then(Value::as_str) {
            Some(p) => format!("a string matching `{p}`"),
            None => "a string".into(),
        },
        Some("array") => {
            let items = v.get("items").map_or_else(|| "values".into(), takes);
            let array = if v.get("minItems").is_some() {
                "a non-empty array"
            } else {
                "an array"
            };
            format!("{array}; each: {items}")
        }
        Some("object") => "a table".into(),
        _ => "any value".into(),
    }
}

/// What a schema value says of itself; empty when it says nothing.
fn described(v: &Value) -> &str {
    v["description"].as_str().unwrap_or_default()
}

/// `text` with its first letter in upper case, to open a paragraph.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn row(out: &mut String, key: &str, takes: &str, default: &str, what: &str) {
    let _ = writeln!(
        out,
        "| `{key}` | {} | {} | {} |",
        cell(takes),
        cell(default),
        cell(what)
    );
}

const HEADER: &str = "| key | takes | default | what |\n|---|---|---|---|\n";

/// One row per property of an object schema, in the schema's order.
fn table(out: &mut String, object: &Value) {
    out.push_str(HEADER);
    for (key, v) in object["properties"].as_object().into_iter().flatten() {
        let default = v.get("default").map_or("-".into(), |d| format!("`{d}`"));
        let what = v.get("description").and_then(Value::as_str).unwrap_or("");
        row(out, key, &takes(v), &default, what);
    }
}

fn default_words(d: Default) -> String {
    match d {
        Default::Absent => "none".into(),
        Default::Required => "required (here or as a matrix axis)".into(),
        Default::LenOf(other, n) => format!("the length of `{other}`, else {n}"),
        _ => default_value(d).map_or("-".into(), |v| format!("`{v}`")),
    }
}

fn kind_section(out: &mut String, k: &KindDef) {
    let _ = writeln!(out, "### `kind = \"{}\"`\n\n{}.\n", k.name, sentence(k.doc));
    match k.step {
        StepUse::No => out.push_str("Not a step of a `steps` task.\n\n"),
        StepUse::Any => out.push_str("May be a step of a `steps` task (without `tasks`).\n\n"),
        StepUse::OncePerTask(why) => {
            let _ = writeln!(
                out,
                "May be a step of a `steps` task (without `tasks`), at most once per task: {why}.\n"
            );
        }
    }
    out.push_str(HEADER);
    for p in k.params {
        row(
            out,
            p.name,
            &p.ty.describe(),
            &default_words(p.default),
            p.doc,
        );
    }
    out.push('\n');
}

fn setting_default(v: &SettingValue) -> String {
    match v {
        SettingValue::Duration(d) => format!("`\"{}\"`", format_duration(*d)),
    }
}

fn models_section(out: &mut String, s: &Value) {
    let models = &s["properties"]["models"];
    let _ = writeln!(
        out,
        "## `[models.NAME]`\n\n{}. Every model, built-in or your own, may take `workers`: \
         {}.\n",
        sentence(described(models)),
        described(&models["additionalProperties"]["oneOf"][0]["properties"]["workers"])
    );
    let tables: Vec<String> = models["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    let _ = writeln!(
        out,
        "Tables of the built-in models: {}.\n",
        tables.join(", ")
    );
    out.push_str("Their settings (a model not listed has none but `workers`):\n\n");
    out.push_str("| model | key | takes | default | what |\n|---|---|---|---|---|\n");
    for name in Model::builtin_names() {
        let about = Model::builtin(name).and_then(|m| m.about());
        for setting in about.map_or(&[][..], |a| a.settings) {
            let _ = writeln!(
                out,
                "| `{name}` | `{}` | {} | {} | {} |",
                setting.key,
                takes(&setting.default.schema()),
                setting_default(&setting.default),
                cell(setting.doc)
            );
        }
    }
    out.push_str("\n### `[models.cpython]`\n\nThe interpreter of every `cpython_*` model.\n\n");
    table(out, &models["properties"][crate::model::cpython::TABLE]);
    let others = &models["additionalProperties"]["oneOf"];
    let custom = &others[0];
    let _ = writeln!(
        out,
        "\n### A model of your own\n\nAny other name under `[models]` is either a command \
         of yours or an interpreter variant. A command: {}. See \
         [external-models.md](external-models.md).\n",
        described(custom)
    );
    table(out, custom);
    let variant = &others[1];
    let _ = writeln!(
        out,
        "\nAn interpreter variant: {}. It gets a sequential baseline under its own \
         interpreter, and its rows name that interpreter in `implementation`.\n",
        described(variant)
    );
    table(out, variant);
    out.push('\n');
}

/// The whole reference, as docs/reference.md holds it.
pub fn markdown() -> String {
    let s = schema();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Experiment file reference\n\n\
         Every key of an experiment file, what it takes and its default. This page is \
         generated by `conclab reference` from the tables that drive the checker \
         (`conclab validate`) and the JSON Schema (`conclab schema`, kept as \
         `experiment.schema.json`); do not edit it by hand. Regenerate it with \
         `{REGENERATE}`; `cargo test --test docs` fails while it is stale.\n\n\
         Durations are strings: {}. Unknown keys are errors.\n",
        described(&s["$defs"]["duration"])
    );
    out.push_str("## Top-level keys\n\n");
    table(&mut out, &s);
    out.push_str("\n## `[workload]`\n\n");
    let _ = writeln!(
        out,
        "`kind` is {}; the kind's parameters follow. Any parameter may instead be a matrix \
         axis: a list of values under `[matrix]`.\n",
        takes(&s["properties"]["workload"]["properties"]["kind"])
    );
    for k in crate::workload::kinds() {
        kind_section(&mut out, k);
    }
    out.push_str("## `[matrix]`\n\n");
    let matrix = &s["properties"]["matrix"];
    let _ = writeln!(
        out,
        "{}. `model` is required.\n",
        sentence(described(matrix))
    );
    table(&mut out, matrix);
    row(
        &mut out,
        "PARAMETER",
        "a non-empty array of the parameter's values",
        "-",
        described(&matrix["additionalProperties"]),
    );
    out.push('\n');
    models_section(&mut out, &s);
    let chart = &s["properties"]["chart"];
    let _ = writeln!(out, "## `[chart]`\n\n{}.\n", sentence(described(chart)));
    table(&mut out, chart);
    let claims = &s["properties"]["claims"];
    let _ = writeln!(
        out,
        "\n## `[[claims]]`\n\n{}; see [statistics.md](statistics.md) for how a verdict is \
         reached. Each claim:\n",
        sentence(described(claims))
    );
    table(&mut out, &claims["items"]);
    out
}

#[cfg(test)]
mod tests {
    /// Every key of the schema, at any depth, is named in the reference.
    #[test]
    fn names_every_key_of_the_schema() {
        fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
            if let Some(o) = v.as_object() {
                if let Some(props) = o.get("properties").and_then(|p| p.as_object()) {
                    out.extend(props.keys().cloned());
                }
                o.values().for_each(|v| keys(v, out));
            } else if let Some(a) = v.as_array() {
                a.iter().for_each(|v| keys(v, out));
            }
        }
        let mut all = Vec::new();
        keys(&super::schema(), &mut all);
        let text = super::markdown();
        for key in all {
            assert!(text.contains(&format!("`{key}`")), "{key} is missing");
        }
    }
}
