//! The binary's help lists the command-line contract.

use std::process::Command;

#[test]
fn help_lists_every_subcommand() {
    let output = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["crawl", "index", "serve", "search", "demo"] {
        assert!(help.contains(command), "--help mentions {command}:\n{help}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["crawl", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--seeds",
        "--data",
        "--max-pages",
        "--max-depth",
        "--delay-ms",
        "--allow-private-addresses",
        "--config",
    ] {
        assert!(help.contains(flag), "crawl --help mentions {flag}:\n{help}");
    }
}

#[test]
fn demo_runs_end_to_end_on_the_bundled_site() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let output = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args([
            "demo",
            "--bundled",
            "--no-serve",
            "--data",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("stored 9 pages"), "{stdout}");
    assert!(stdout.contains("9 documents"), "{stdout}");
    let search = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args([
            "search",
            "--data",
            data.to_str().unwrap(),
            "--json",
            "robots.txt longest match",
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&search.stdout).unwrap();
    assert!(
        json["hits"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with("/robots-txt.html"),
        "{json}"
    );
}
