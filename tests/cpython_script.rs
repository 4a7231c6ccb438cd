//! The built-in CPython models' program (src/model/cpython/conclab_cpython.py), driven over
//! the external-model protocol by its own unittest suite (tests/cpython/): every model,
//! every step kind, as `python3 <file>` and as `python3 -c <text>`. Skipped, with the reason
//! printed, where there is no python3 of 3.8 or newer.

use std::process::Command;

#[test]
fn cpython_program_passes_its_unittest_suite() {
    let python = std::env::var("CONCLAB_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let version = Command::new(&python)
        .args(["-c", "import sys; print(sys.version_info >= (3, 8))"])
        .output();
    match version {
        Ok(out) if String::from_utf8_lossy(&out.stdout).trim() == "True" => {}
        Ok(out) => {
            println!(
                "skipped: {python} is older than 3.8 or broken: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            println!("skipped: no {python} to run the CPython models' tests ({e})");
            return;
        }
    }
    let out = Command::new(&python)
        .args(["-m", "unittest", "discover", "-s", "tests/cpython", "-v"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cannot start python3");
    let report = String::from_utf8_lossy(&out.stderr);
    println!("{report}");
    assert!(
        out.status.success(),
        "the CPython program's tests failed:\n{report}"
    );
}
