//! Finding and running the `quarry` binary built by the same `cargo test`/`nextest` run.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Path of the `quarry` binary next to the test executable (`target/<profile>/quarry`).
///
/// # Panics
/// When the binary was not built: run the tests with `--workspace` (the README command),
/// which builds it because the `quarry` package has integration tests.
pub fn quarry_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join(format!("quarry{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not found: run the tests with `cargo nextest run --workspace` (or `cargo build -p quarry` first)",
        bin.display()
    );
    bin
}

/// Runs `quarry ARGS` to completion.
pub fn run_quarry(args: &[&str]) -> Output {
    Command::new(quarry_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run quarry")
}
