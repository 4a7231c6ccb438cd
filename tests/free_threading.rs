//! Several interpreters in one file: variants of the cpython models under an interpreter of
//! their own are cells of their own, never pooled with another interpreter's rows, each
//! measured against the sequential run of its own interpreter. A free-threaded CPython is
//! used where `CONCLAB_TEST_FT_PYTHON` names one (`.ci/run` builds it with
//! scripts/free-threaded-python.sh); otherwise a second path to python3 stands in for it.

mod common;

use std::collections::HashMap;

use common::{Lab, PASS_1000, code, stderr, stdout};

fn python3() -> Option<std::path::PathBuf> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    if out.is_none() {
        eprintln!("skipped: no python3 on PATH");
    }
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().into())
}

/// The free-threaded interpreter the CI built, if it names one.
fn free_threaded() -> Option<String> {
    let ft = std::env::var("CONCLAB_TEST_FT_PYTHON")
        .ok()
        .filter(|p| !p.is_empty());
    if ft.is_none() {
        eprintln!(
            "CONCLAB_TEST_FT_PYTHON is not set: a second path to python3 stands in for the free-threaded build"
        );
    }
    ft
}

fn chains(models: &str, variants: &str) -> String {
    format!(
        "repetitions = 2\ntimeout = \"1m\"\n[workload]\nkind = \"hash_chain\"\ninputs = [\"pass\", \"a\", \"b\"]\niterations = 1000\nexpect = {{ pass = \"{PASS_1000}\" }}\n[matrix]\nmodel = [{models}]\nworkers = [2]\n{variants}"
    )
}

#[test]
fn two_interpreters_in_one_file_never_pool_and_each_is_baselined_on_its_own_sequential() {
    let Some(python3) = python3() else { return };
    let lab = Lab::new();
    let second = match free_threaded() {
        Some(ft) => ft,
        None => {
            let link = lab.path().join("other-python3");
            std::os::unix::fs::symlink(&python3, &link).unwrap();
            link.display().to_string()
        }
    };
    let variants = format!(
        "[models.ft_sequential]\nbase = \"cpython_sequential\"\npython = \"{second}\"\n\
         [models.ft_pool]\nbase = \"cpython_thread_pool\"\npython = \"{second}\"\n"
    );
    lab.write(
        "two.toml",
        &chains(
            "\"sequential\", \"cpython_sequential\", \"cpython_thread_pool\", \"ft_sequential\", \"ft_pool\"",
            &variants,
        ),
    );
    let out = lab.run(&["two.toml"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));

    let runs = lab.csv("results/two/runs.csv");
    let mut cells: HashMap<&str, (&str, &str)> = HashMap::new();
    for r in &runs.rows {
        let (model, implementation) = (r["model"].as_str(), r["implementation"].as_str());
        assert!(
            r["check"] == "pass",
            "{model}: the same digests as every other model: {}",
            r["detail"]
        );
        let seen = cells
            .entry(r["cell"].as_str())
            .or_insert((model, implementation));
        assert_eq!(
            *seen,
            (model, implementation),
            "one model and one implementation per cell"
        );
    }
    assert_eq!(cells.len(), 5, "every variant is a cell of its own");
    let implementation_of = |model: &str| {
        cells
            .values()
            .find(|(m, _)| *m == model)
            .map(|(_, i)| i.to_string())
            .unwrap()
    };
    assert!(implementation_of("sequential").starts_with("conclab "));
    let gil = implementation_of("cpython_thread_pool");
    let ft = implementation_of("ft_pool");
    assert!(gil.starts_with("CPython 3."), "{gil}");
    assert_eq!(implementation_of("cpython_sequential"), gil);
    assert_eq!(implementation_of("ft_sequential"), ft);
    if std::env::var("CONCLAB_TEST_FT_PYTHON").is_ok_and(|p| !p.is_empty()) {
        assert!(ft.contains("free-threading (GIL disabled)"), "{ft}");
        assert_ne!(ft, gil);
    }

    let summary = lab.csv("results/two/summary.csv");
    let row = |model: &str| {
        summary
            .rows
            .iter()
            .find(|r| r["model"] == model)
            .unwrap_or_else(|| panic!("no {model} in summary.csv"))
    };
    let median = |model: &str| row(model)["median_s"].parse::<f64>().unwrap();
    let speedup = |model: &str| row(model)["speedup"].parse::<f64>().unwrap();
    for (model, baseline) in [
        ("cpython_thread_pool", "cpython_sequential"),
        ("ft_pool", "ft_sequential"),
    ] {
        let expected = median(baseline) / median(model);
        assert!(
            (speedup(model) - expected).abs() < 0.01 * expected.max(1.0),
            "{model} is measured against {baseline}: {} vs {expected}",
            speedup(model)
        );
        assert_eq!(row(model)["implementation"], implementation_of(model));
    }
    assert_eq!(speedup("ft_sequential"), 1.0, "its own baseline");
    let report = std::fs::read_to_string(lab.path().join("results/two/report.md")).unwrap();
    assert!(report.contains(&ft), "report.md names the implementation");

    // Again, with nothing changed: every cell is done, nothing is run or pooled anew.
    let again = lab.run(&["two.toml"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(lab.csv("results/two/runs.csv").rows.len(), runs.rows.len());
}

#[test]
fn without_the_free_threaded_interpreter_its_cells_are_skipped_in_one_line_and_the_run_passes() {
    if python3().is_none() {
        return;
    }
    let lab = Lab::new();
    lab.write(
        "gone.toml",
        &chains(
            "\"cpython_sequential\", \"ft_sequential\", \"ft_pool\"",
            "[models.ft_sequential]\nbase = \"cpython_sequential\"\npython = \".python-ft/bin/python3.13t\"\n\
             [models.ft_pool]\nbase = \"cpython_thread_pool\"\npython = \".python-ft/bin/python3.13t\"\n",
        ),
    );
    let out = lab.run(&["gone.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("scripts/free-threaded-python.sh"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("skipping 2"), "{err}");
    let runs = lab.csv("results/gone/runs.csv");
    assert!(
        runs.column("model")
            .iter()
            .all(|m| *m == "cpython_sequential")
    );
}

#[test]
fn under_pypy_the_built_in_program_runs_and_records_pypy() {
    let found = std::process::Command::new("pypy3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: no pypy3 on PATH (Debian's package pypy3)");
        return;
    }
    let lab = Lab::new();
    lab.write(
        "pypy.toml",
        &chains(
            "\"sequential\", \"pypy_sequential\", \"pypy_pool\"",
            "[models.pypy_sequential]\nbase = \"cpython_sequential\"\npython = \"pypy3\"\n\
             [models.pypy_pool]\nbase = \"cpython_thread_pool\"\npython = \"pypy3\"\n",
        ),
    );
    let out = lab.run(&["pypy.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary = lab.csv("results/pypy/summary.csv");
    for r in summary.rows.iter().filter(|r| r["model"] != "sequential") {
        assert_eq!(r["check"], "pass", "{r:?}");
        assert!(r["implementation"].starts_with("PyPy "), "{r:?}");
    }
    let pool = summary
        .rows
        .iter()
        .find(|r| r["model"] == "pypy_pool")
        .unwrap();
    assert!(
        !pool["speedup"].is_empty(),
        "measured against pypy_sequential"
    );
}

/// The race the GIL hid: a tight `+= 1` from four threads keeps every update under the GIL
/// and loses many under the free-threaded build (only where the CI names one).
#[test]
fn without_the_gil_a_tight_increment_loses_updates_and_with_it_none() {
    let Some(ft) = free_threaded() else { return };
    if python3().is_none() {
        return;
    }
    let lab = Lab::new();
    lab.write(
        "race.toml",
        &format!(
            "repetitions = 1\ntimeout = \"2m\"\n[workload]\nkind = \"counter\"\ntasks = 4\nincrements = 1_000_000\nwait = \"0s\"\n\
             [matrix]\nmodel = [\"cpython_thread_pool\", \"ft_pool\"]\nworkers = [4]\n\
             [models.ft_pool]\nbase = \"cpython_thread_pool\"\npython = \"{ft}\"\n"
        ),
    );
    let out = lab.run(&["race.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let runs = lab.csv("results/race/runs.csv");
    let row = |model: &str| -> HashMap<String, String> {
        runs.rows
            .iter()
            .find(|r| r["model"] == model)
            .cloned()
            .unwrap_or_else(|| panic!("no {model}"))
    };
    let gil = row("cpython_thread_pool");
    assert_eq!(
        (gil["check"].as_str(), gil["detail"].as_str()),
        ("pass", "final=4000000 expected=4000000")
    );
    let free = row("ft_pool");
    assert_eq!(free["check"], "race", "{}", free["detail"]);
    assert!(free["detail"].contains("lost="), "{}", free["detail"]);
}
