//! Finding and running the `quarry` binary built by the same `cargo test`/`nextest` run.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

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
    run_quarry_env(args, &[])
}

/// Runs `quarry ARGS` to completion with `env` added to its environment.
pub fn run_quarry_env(args: &[&str], env: &[(&str, String)]) -> Output {
    Command::new(quarry_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run quarry")
}

/// A child process (a `quarry serve`) killed and reaped when dropped, so a failing test
/// leaves no server behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `quarry serve ARGS --listen 127.0.0.1:0` (standard error discarded) and
/// returns it, killed when dropped, with the base URL it printed.
///
/// # Panics
/// When the binary cannot be started or prints no address.
pub fn start_serve(args: &[&str]) -> (KillOnDrop, String) {
    let mut child = Command::new(quarry_bin())
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start quarry serve");
    let out = child.stdout.take().expect("stdout");
    let server = KillOnDrop(child);
    let base = served_base_url(out);
    (server, base)
}

/// Peak resident memory (`VmHWM`) of process `pid`, in KiB; `None` once it has exited.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The base URL (`http://127.0.0.1:PORT`, no trailing slash) that `quarry serve` prints on
/// its first line of standard output.
///
/// # Panics
/// When the first line cannot be read or names no `http://` address.
pub fn served_base_url(stdout: impl std::io::Read) -> String {
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .expect("address line");
    line.split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_end_matches('/')
        .to_string()
}

/// `count` moments in `range_ms` from a small deterministic generator (xorshift seeded
/// with `seed`), so the kill moments of a crash test are reproducible.
pub fn kill_moments(seed: u64, count: usize, range_ms: std::ops::Range<u64>) -> Vec<Duration> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            Duration::from_millis(range_ms.start + state % (range_ms.end - range_ms.start))
        })
        .collect()
}

/// Starts `command` (a server that logs its listening address on standard error), reads
/// its standard error until a line holding `marker` followed by a port, and keeps draining
/// the rest so the server never blocks on a full pipe. Returns the server, killed when
/// dropped, and the port.
///
/// # Panics
/// When it cannot be started or exits before printing the marker.
pub fn spawn_logging_port(mut command: Command, marker: &str) -> (KillOnDrop, u16) {
    use std::io::{BufRead, Read};
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    let stderr = child.stderr.take().expect("stderr");
    let child = KillOnDrop(child);
    let mut lines = std::io::BufReader::new(stderr);
    let mut seen = String::new();
    let port = loop {
        let mut line = String::new();
        let read = lines.read_line(&mut line).expect("server stderr");
        assert!(read > 0, "{command:?} exited: {seen}");
        seen.push_str(&line);
        if let Some(port) = line
            .split(marker)
            .nth(1)
            .and_then(|rest| rest.trim().parse::<u16>().ok())
        {
            break port;
        }
    };
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = lines.read_to_end(&mut sink);
    });
    (child, port)
}
