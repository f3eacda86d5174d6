//! Golden outputs: capd's `--json` events and text output for every capture in `captures/`
//! must equal the reviewed files in `captures/golden/` byte for byte. `captures/bless.sh`
//! rewrites them from the current build; its diff is reviewed like code.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn run(file: &Path, args: &[&str]) -> String {
    let out = Command::new(capd_bin())
        .arg("-r")
        .arg(file)
        .args(args)
        .output()
        .expect("capd runs");
    assert!(
        out.status.success(),
        "capd failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn every_capture_matches_its_golden_outputs() {
    let captures = sample_captures();
    assert!(!captures.is_empty());
    let mut failures = Vec::new();
    for file in &captures {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        for (ext, args) in [
            ("jsonl", &["--json"][..]),
            ("txt", &["--color", "never"][..]),
        ] {
            let golden_path = captures_dir().join("golden").join(format!("{name}.{ext}"));
            let golden = std::fs::read_to_string(&golden_path).unwrap_or_else(|_| {
                panic!(
                    "{} is missing; run captures/bless.sh",
                    golden_path.display()
                )
            });
            let ours = run(file, args);
            if ours != golden {
                failures.push(format!(
                    "{name}.{ext}: {}",
                    first_difference(&ours, &golden)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "outputs differ from captures/golden (review, then captures/bless.sh):\n{}",
        failures.join("\n")
    );
}
