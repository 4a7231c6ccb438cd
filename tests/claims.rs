//! Claims: checked with positions, judged from a results folder, `--strict`; report.md and
//! index.md whose every link resolves.

mod common;

use std::path::Path;

use common::{Lab, code, stderr, stdout};

const SLEEPS: &str = "repetitions = 3\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"1ms\"\n[matrix]\nmodel = [\"sequential\", \"thread_pool\"]\nworkers = [2, 4]\n";

/// Eight lines of experiment, then the claims (the first `[[claims]]` is line 9).
fn sleeps(claims: &str) -> String {
    format!("{SLEEPS}{claims}")
}

#[test]
fn claim_errors_name_file_line_column_and_what_is_allowed() {
    let lab = Lab::new();
    lab.write(
        "c.toml",
        &sleeps(concat!(
            "[[claims]]\nsay = \"a\"\ncell = { model = \"thread_pool\" }\nexpect = \"speedp >= 2\"\n",
            "[[claims]]\nsay = \"b\"\ncell = { model = \"thread_pool\" }\nexpect = \"speedup => 2\"\n",
            "[[claims]]\nsay = \"c\"\ncell = { model = \"thread_pool\" }\nexpect = \"check >= pass\"\n",
            "[[claims]]\nsay = \"d\"\ncell = { model = \"thread_pool\", workers = 3 }\nexpect = \"speedup >= 1\"\n",
            "[[claims]]\nsay = \"e\"\ncell = { model = \"thread_pool\", duration = \"1ms\" }\nexpect = \"speedup >= 1\"\n",
            "[[claims]]\nsay = \"f\"\ncell = { modle = \"thread_pool\" }\nexpect = \"speedup >= 1\"\n",
        )),
    );
    let out = lab.cmd().args(["validate", "c.toml"]).output().unwrap();
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 6, "{err}");
    // Line 12 is the first claim's expect; columns point into the string.
    assert!(
        lines[0].starts_with("error: c.toml:12:11: claims[1].expect: unknown metric \"speedp\"")
            && lines[0].contains("did you mean \"speedup\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("error: c.toml:16:19: claims[2].expect: \"=>\" is not an operator"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("error: c.toml:20:17: claims[3].expect: check compares with == only"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("error: c.toml:23:8: claims[4].cell: selects no cell of the matrix")
            && lines[3].contains("workers 2, 4"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4]
            .starts_with("error: c.toml:27:33: claims[5].cell.duration: unknown key \"duration\""),
        "{}",
        lines[4]
    );
    assert!(
        lines[5].contains("claims[6].cell.modle: unknown key \"modle\"")
            && lines[5].contains("did you mean \"model\""),
        "{}",
        lines[5]
    );
}

/// Replaces the wall times of a results folder's runs.csv: `walls` per model and workers.
fn set_walls(dir: &Path, walls: &[(&str, &str, [f64; 5])]) {
    let path = dir.join("runs.csv");
    let mut r = csv::Reader::from_path(&path).unwrap();
    let header = r.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (model, workers, rep, wall) = (
        col("model"),
        col("workers"),
        col("repetition"),
        col("wall_s"),
    );
    let mut w = csv::Writer::from_path(dir.join("runs.new")).unwrap();
    w.write_record(&header).unwrap();
    for rec in r.records() {
        let mut rec: Vec<String> = rec.unwrap().iter().map(str::to_string).collect();
        let (_, _, v) = walls
            .iter()
            .find(|(m, wk, _)| *m == rec[model] && *wk == rec[workers])
            .expect("every cell given");
        let k: usize = rec[rep].parse().unwrap();
        rec[wall] = format!("{:.6}", v[k - 1]);
        w.write_record(&rec).unwrap();
    }
    w.flush().unwrap();
    std::fs::rename(dir.join("runs.new"), path).unwrap();
}

#[test]
fn chart_judges_claims_from_the_rows_holds_fails_unclear() {
    let lab = Lab::new();
    lab.write(
        "v.toml",
        &sleeps(concat!(
            "[[claims]]\nsay = \"two workers halve it\"\ncell = { model = \"thread_pool\", workers = 2 }\nexpect = \"speedup >= 1.8\"\n",
            "[[claims]]\nsay = \"too much\"\ncell = { model = \"thread_pool\", workers = 2 }\nexpect = \"speedup >= 2.5\"\n",
            "[[claims]]\nsay = \"noisy\"\ncell = { model = \"thread_pool\", workers = 4 }\nexpect = \"speedup >= 2\"\n",
            "[[claims]]\nsay = \"every pool cell\"\ncell = { model = \"thread_pool\" }\nexpect = \"median_s <= 0.6\"\n",
            "[[claims]]\nsay = \"right\"\ncell = { model = \"thread_pool\" }\nexpect = \"check == pass\"\n",
        )),
    );
    assert_eq!(code(&lab.run(&["v.toml"])), 0);
    let dir = lab.path().join("results/v");
    set_walls(
        &dir,
        &[
            ("sequential", "1", [1.0; 5]),
            ("thread_pool", "2", [0.5; 5]),
            ("thread_pool", "4", [0.4, 0.45, 0.5, 0.55, 0.6]),
        ],
    );
    let out = lab.cmd().args(["chart", "results/v"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("claims: 3 of 5 claims hold, 1 fails, 1 unclear"),
        "{}",
        stdout(&out)
    );
    let claims = lab.csv("results/v/claims.csv");
    assert_eq!(
        claims.header,
        [
            "experiment",
            "claim",
            "say",
            "cell",
            "expect",
            "value",
            "ci_low",
            "ci_high",
            "verdict",
            "ci_coverage"
        ]
    );
    assert_eq!(
        claims.column("verdict"),
        ["holds", "fails", "unclear", "holds", "holds"]
    );
    assert_eq!(claims.column("value")[0], "2.00");
    assert_eq!(claims.column("cell")[0], "model=thread_pool workers=2");
    assert_eq!(claims.column("expect")[2], "speedup >= 2");
    // Paired by round: 1 s over 0.4-0.6 s.
    assert_eq!(claims.column("ci_low")[2], "1.666667");
    assert_eq!(claims.column("ci_high")[2], "2.500000");
    assert_eq!(claims.column("ci_coverage")[2], "0.9375");
    assert!(
        claims.column("value")[3].ends_with("holds for 2 of 2 cells"),
        "{}",
        claims.column("value")[3]
    );
    let index = std::fs::read_to_string(lab.path().join("results/index.md")).unwrap();
    assert!(index.contains("| 3 of 5 claims hold |"), "{index}");
}

/// Keeps the rows of runs.csv whose repetition is at most `n`.
fn keep_repetitions(dir: &Path, n: u32) {
    let path = dir.join("runs.csv");
    let mut r = csv::Reader::from_path(&path).unwrap();
    let header = r.headers().unwrap().clone();
    let rep = header.iter().position(|h| h == "repetition").unwrap();
    let mut w = csv::Writer::from_path(dir.join("runs.new")).unwrap();
    w.write_record(&header).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        if rec[rep].parse::<u32>().unwrap() <= n {
            w.write_record(&rec).unwrap();
        }
    }
    w.flush().unwrap();
    std::fs::rename(dir.join("runs.new"), path).unwrap();
}

#[test]
fn claims_get_the_repetitions_to_decide_and_stay_unclear_below_95() {
    let lab = Lab::new();
    lab.write(
        "d.toml",
        &sleeps("[[claims]]\nsay = \"slow enough\"\ncell = { model = \"thread_pool\", workers = 2 }\nexpect = \"median_s < 10\"\n"),
    );
    assert_eq!(code(&lab.run(&["d.toml"])), 0);
    let dir = lab.path().join("results/d");
    // repetitions = 3, but the claim's cell ran the 5 that can decide it at 95%.
    let summary = lab.csv("results/d/summary.csv");
    assert_eq!(summary.column("n"), ["3", "5", "3"]);
    assert_eq!(
        summary.column("ci_coverage"),
        ["0.7500", "0.9375", "0.7500"]
    );
    assert_eq!(lab.csv("results/d/claims.csv").column("verdict"), ["holds"]);
    // Three repetitions left: a 75% interval decides nothing, and says what it needs.
    keep_repetitions(&dir, 3);
    let out = lab.cmd().args(["chart", "results/d"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let claims = lab.csv("results/d/claims.csv");
    assert_eq!(claims.column("verdict"), ["unclear"]);
    assert!(
        claims.column("value")[0].ends_with("unclear: n=3 (needs 5 for 95%)"),
        "{}",
        claims.column("value")[0]
    );
    assert!(
        stdout(&out).contains("[..] = 75% (min–max of 3) intervals"),
        "{}",
        stdout(&out)
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("75% (min–max of 3)"), "{report}");
}

#[test]
fn strict_makes_a_failing_claim_exit_1_and_an_unclear_one_does_not() {
    let lab = Lab::new();
    let failing = "[[claims]]\nsay = \"impossible\"\ncell = { model = \"sequential\" }\nexpect = \"median_s < 0.000001\"\n";
    // Sequential against itself: an interval around 1, or exactly 1; never wholly below.
    let unclear = "[[claims]]\nsay = \"itself\"\ncell = { model = \"sequential\" }\nexpect = \"speedup >= 1\"\n";
    lab.write("f.toml", &format!("name = \"f\"\n{}", sleeps(failing)));
    lab.write("u.toml", &format!("name = \"u\"\n{}", sleeps(unclear)));
    let plain = lab.run(&["f.toml"]);
    assert_eq!(code(&plain), 0, "{}", stderr(&plain));
    assert!(
        stdout(&plain).contains("fails   impossible"),
        "{}",
        stdout(&plain)
    );
    assert_eq!(code(&lab.run(&["f.toml", "--strict"])), 1);
    assert_eq!(code(&lab.run(&["u.toml", "--strict"])), 0);
}

/// Every link and image of a Markdown file, as paths relative to its folder.
fn targets(file: &Path) -> Vec<(String, bool)> {
    use pulldown_cmark::{Event, Parser, Tag};
    let text = std::fs::read_to_string(file).unwrap();
    Parser::new(&text)
        .filter_map(|e| match e {
            Event::Start(Tag::Link { dest_url, .. }) => Some((dest_url.to_string(), false)),
            Event::Start(Tag::Image { dest_url, .. }) => Some((dest_url.to_string(), true)),
            _ => None,
        })
        .collect()
}

#[test]
fn report_and_index_link_only_to_files_that_exist() {
    let lab = Lab::new();
    lab.write(
        "r.toml",
        &sleeps("[[claims]]\nsay = \"runs\"\ncell = { model = \"thread_pool\" }\nexpect = \"check == pass\"\n"),
    );
    let out = lab
        .cmd()
        .args(["run", "r.toml", "--out", "results", "-q"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = lab.path().join("results/r/report.md");
    let index = lab.path().join("results/index.md");
    let text = std::fs::read_to_string(&report).unwrap();
    for part in [
        "## Claims: 1 of 1 claim hold",
        "## Summary",
        "## Charts",
        "## Environment",
        "conclab run r.toml --out results",
    ] {
        assert!(text.contains(part), "{part}:\n{text}");
    }
    let mut images = 0;
    for file in [&report, &index] {
        let found = targets(file);
        assert!(!found.is_empty(), "{}", file.display());
        for (target, image) in found {
            let path = file.parent().unwrap().join(
                target
                    .replace("%20", " ")
                    .replace("%28", "(")
                    .replace("%29", ")"),
            );
            assert!(
                path.exists(),
                "{}: {target} does not resolve",
                file.display()
            );
            images += usize::from(image);
        }
    }
    assert!(images >= 3, "time, speedup and timeline are embedded");
    let index_text = std::fs::read_to_string(&index).unwrap();
    assert!(index_text.contains("1 of 1 claim hold"), "{index_text}");
}
