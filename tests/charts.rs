//! Charts drawn from fixture CSV files: real PNGs of the asked size, not blank, with every
//! model's colour; rebuilt by `conclab chart`; clear errors on missing or broken input.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::{Lab, code, stderr};
use conclab::chart::{ChartOptions, model_colour, render_experiment};

fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/charts")
        .join(name);
    for f in std::fs::read_dir(src).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    (tmp, dir)
}

struct Image {
    width: u32,
    height: u32,
    pixels: HashSet<[u8; 3]>,
}

/// Size and the set of colours of a PNG.
fn decode(path: &Path) -> Image {
    let (width, height, rows) = decode_rows(path);
    Image {
        width: width as u32,
        height: height as u32,
        pixels: rows.into_iter().collect(),
    }
}

/// Width, height and RGB pixels, row by row, of a PNG.
fn decode_rows(path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(
        std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    );
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    let pixels = buf[..info.buffer_size()]
        .chunks(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width as usize, info.height as usize, pixels)
}

fn has_colour(img: &Image, model: &str) -> bool {
    let c = model_colour(model);
    img.pixels.contains(&[c.0, c.1, c.2])
}

const IO_MODELS: [&str; 6] = [
    "sequential",
    "threads",
    "thread_pool",
    "gil_threads",
    "async",
    "async_blocking",
];

#[test]
fn three_charts_of_the_asked_size_with_every_models_colour() {
    let (_tmp, dir) = fixture("io-bound");
    let files = render_experiment(&dir, &ChartOptions::default()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["time.png", "speedup.png", "timeline.png"]);
    for f in &files {
        let img = decode(f);
        assert_eq!((img.width, img.height), (1600, 1000), "{}", f.display());
        assert!(
            img.pixels.len() > 50,
            "{} looks blank: {} colours",
            f.display(),
            img.pixels.len()
        );
        for m in IO_MODELS {
            assert!(has_colour(&img, m), "{} has no {m} colour", f.display());
        }
    }
    let small = render_experiment(
        &dir,
        &ChartOptions {
            width: 800,
            height: 500,
            timeline_workers: Some(3),
        },
    )
    .unwrap();
    let img = decode(&small[2]);
    assert_eq!((img.width, img.height), (800, 500));
}

#[test]
fn extra_axes_give_one_set_per_value_and_failed_tasks_show_red() {
    let (_tmp, dir) = fixture("race");
    let tasks = std::fs::read_to_string(dir.join("tasks.csv")).unwrap();
    // Mark every task of the first cell as failed.
    let first_cell = tasks
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let edited: String = tasks.lines().map(|l| if l.starts_with(&first_cell) { l.replace(",true,", ",false,") } else { l.to_string() } + "\n").collect();
    std::fs::write(dir.join("tasks.csv"), edited).unwrap();
    let files = render_experiment(&dir, &ChartOptions::default()).unwrap();
    let mut names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 9);
    assert!(
        names.contains(&"timeline-sync=mutex.png".to_string()),
        "{names:?}"
    );
    let red = conclab::chart::FAILED;
    let failed_somewhere = files
        .iter()
        .filter(|f| f.to_string_lossy().contains("timeline"))
        .any(|f| decode(f).pixels.contains(&[red.0, red.1, red.2]));
    assert!(
        failed_somewhere,
        "a failed task is drawn in the failure colour"
    );
}

#[test]
fn missing_or_malformed_csv_gives_a_clear_error() {
    let (_tmp, dir) = fixture("io-bound");
    std::fs::remove_file(dir.join("summary.csv")).unwrap();
    let err = format!(
        "{:#}",
        render_experiment(&dir, &ChartOptions::default()).unwrap_err()
    );
    assert!(err.contains("summary.csv is missing"), "{err}");

    let (_tmp, dir) = fixture("io-bound");
    let text = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let broken = text.replacen(",thread_pool,", ",thread_pool,not-a-number-", 1);
    std::fs::write(dir.join("summary.csv"), broken).unwrap();
    let err = format!(
        "{:#}",
        render_experiment(&dir, &ChartOptions::default()).unwrap_err()
    );
    assert!(
        err.contains("summary.csv: line") && err.contains("not a number"),
        "{err}"
    );

    let (_tmp, dir) = fixture("io-bound");
    std::fs::write(dir.join("summary.csv"), "just,some\ncsv,file\n").unwrap();
    let err = format!(
        "{:#}",
        render_experiment(&dir, &ChartOptions::default()).unwrap_err()
    );
    assert!(err.contains("not a conclab file"), "{err}");
}

#[test]
fn the_chart_verb_recreates_deleted_pngs() {
    let (tmp, dir) = fixture("race");
    let lab = Lab { dir: tmp };
    assert!(!dir.join("time-sync=none.png").exists());
    let out = lab.cmd().args(["chart", "race"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for name in [
        "time-sync=none.png",
        "speedup-sync=atomic.png",
        "timeline-sync=mutex.png",
    ] {
        let img = decode(&dir.join(name));
        assert_eq!((img.width, img.height), (1600, 1000));
    }
}

#[test]
fn a_chart_that_cannot_be_written_fails_the_run_but_keeps_the_rows() {
    let lab = Lab::new();
    lab.write("c.toml", "repetitions = 1\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"1ms\"\n[matrix]\nmodel = [\"sequential\", \"async\"]\nworkers = [2]\n");
    // A folder where time.png should go: the PNG cannot be written.
    std::fs::create_dir_all(lab.path().join("results/c/time.png")).unwrap();
    let out = lab
        .cmd()
        .args(["run", "c.toml", "--out", "results", "-q"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("charts not drawn"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        lab.csv("results/c/runs.csv").rows.len(),
        2,
        "the rows are written before the charts"
    );
    assert_eq!(lab.csv("results/c/summary.csv").rows.len(), 2);
}

#[test]
fn a_wall_of_a_thousand_concurrent_tasks_has_no_stripes() {
    let lab = Lab::new();
    lab.write("w.toml", "repetitions = 1\n[workload]\nkind = \"sleep\"\ntasks = 1000\nduration = \"50ms\"\n[matrix]\nmodel = [\"async\"]\nworkers = [1000]\n");
    let out = lab.run(&["w.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let o = lab
        .cmd()
        .args(["chart", "results/w", "--width", "1200", "--height", "750"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (w, h, px) = decode_rows(&lab.path().join("results/w/timeline.png"));
    const WHITE: [u8; 3] = [255, 255, 255];
    // Columns through the wall (every task runs from ~0 to ~50 ms): between the first and
    // the last painted pixel of such a column, rows shared by many tasks leave no white
    // line; thin gaps between them used to alias into stripes.
    let mut walls = 0;
    for x in w / 3..w / 2 {
        let column: Vec<[u8; 3]> = (100..h - 80).map(|y| px[y * w + x]).collect();
        let (Some(first), Some(last)) = (
            column.iter().position(|p| *p != WHITE),
            column.iter().rposition(|p| *p != WHITE),
        ) else {
            continue;
        };
        if last - first < h / 2 {
            continue;
        }
        walls += 1;
        let white = column[first..=last].iter().filter(|p| **p == WHITE).count();
        assert_eq!(white, 0, "column {x}: {white} white pixels inside the wall");
    }
    assert!(walls > 50, "no wall found: {walls} columns");
}

/// Heights of the vertical runs of pure black of at least `min` pixels in column `x`.
fn black_runs(px: &[[u8; 3]], (w, h): (usize, usize), x: usize, min: usize) -> Vec<usize> {
    let mut runs = Vec::new();
    let mut run = 0;
    for y in 0..=h {
        if y < h && px[y * w + x] == [0, 0, 0] {
            run += 1;
        } else {
            if run >= min {
                runs.push(run);
            }
            run = 0;
        }
    }
    runs
}

#[test]
fn every_timeline_panel_has_the_same_height_the_last_one_too() {
    let (_tmp, dir) = fixture("io-bound");
    let opts = ChartOptions {
        width: 1200,
        height: 750,
        timeline_workers: Some(3),
    };
    let files = render_experiment(&dir, &opts).unwrap();
    let (w, h, px) = decode_rows(&files[2]);
    // Each panel's y axis is a black line in one column: the column with the most black
    // in long runs holds every panel's frame height.
    let (x, runs) = (0..w / 2)
        .map(|x| (x, black_runs(&px, (w, h), x, 15)))
        .max_by_key(|(_, r)| r.iter().sum::<usize>())
        .unwrap();
    assert_eq!(runs.len(), IO_MODELS.len(), "column {x}: {runs:?}");
    let first = runs[0];
    for (i, r) in runs.iter().enumerate() {
        assert!(
            r.abs_diff(first) <= 3,
            "panel {i} is {r} px tall, the first {first} px: {runs:?}"
        );
    }
}

/// Pixels of exactly `c`.
fn count(px: &[[u8; 3]], c: [u8; 3]) -> usize {
    px.iter().filter(|p| **p == c).count()
}

#[test]
fn a_gil_threads_timeline_shows_the_lock_held_solid_and_waited_for_pale() {
    let lab = Lab::new();
    lab.write(
        "g.toml",
        "repetitions = 1\n[workload]\nkind = \"hash_chain\"\ninputs = [\"a\", \"b\", \"c\"]\n\
         iterations = 50_000\n[matrix]\nmodel = [\"gil_threads\"]\nworkers = [2]\n\
         [models.gil_threads]\nswitch_interval = \"1ms\"\n",
    );
    let out = lab.run(&["g.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let phases = lab.csv("results/g/phases.csv");
    let kinds: HashSet<&str> = phases.column("phase").into_iter().collect();
    assert_eq!(kinds, HashSet::from(["held", "lock_wait"]), "{kinds:?}");
    // Drawn by `chart` from the CSV files alone, as for results of an earlier run.
    let o = lab.cmd().args(["chart", "results/g"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (_, _, px) = decode_rows(&lab.path().join("results/g/timeline.png"));
    let grey = model_colour("gil_threads");
    let solid = [grey.0, grey.1, grey.2];
    // 30 % of the colour and 70 % of white: the shade `chart` gives a wait for the lock.
    let pale = solid.map(|c| (c as f64 + (255.0 - c as f64) * 0.7).round() as u8);
    // More than a legend swatch (40 x 16 pixels) of each: the bars show both.
    let (held, waiting) = (count(&px, solid), count(&px, pale));
    assert!(held > 2000, "{held} pixels of the held shade");
    assert!(waiting > 2000, "{waiting} pixels of the waiting shade");
}

/// The core count bounds CPU work only: the speedup chart of waits has no red core line,
/// and the same figures labelled as hash chains have one.
#[test]
fn the_core_line_is_drawn_only_where_the_workload_computes() {
    let red = [200, 0, 0];
    let (_tmp, dir) = fixture("io-bound");
    render_experiment(&dir, &ChartOptions::default()).unwrap();
    let waits = decode(&dir.join("speedup.png"));
    assert!(
        !waits.pixels.contains(&red),
        "a core line on a chart of waits"
    );

    let summary = dir.join("summary.csv");
    let text = std::fs::read_to_string(&summary).unwrap();
    std::fs::write(&summary, text.replace(",http,", ",hash_chain,")).unwrap();
    render_experiment(&dir, &ChartOptions::default()).unwrap();
    let chains = decode(&dir.join("speedup.png"));
    assert!(
        chains.pixels.contains(&red),
        "no core line on a chart of CPU work"
    );
}
