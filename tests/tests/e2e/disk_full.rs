//! A full disk, for real: the data directory on a small tmpfs. The crawl and the index
//! build stop with a clear one-line error and a non-zero exit, nothing stored is lost or
//! corrupted, the current index generation keeps answering, and once there is room again
//! the same commands finish the job as if nothing had happened.
//!
//! Mounting needs root (CAP_SYS_ADMIN); elsewhere the tests say so and skip.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use quarry_tests::binary::run_quarry;
use quarry_tests::fixture::{FixtureOptions, FixtureSite, expected_pages, generated_pages};

use crate::stored_paths;

/// A tmpfs of a chosen size, unmounted when dropped.
struct SmallDisk {
    mount_point: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes`; `None` (after saying why) where mounting is not allowed.
    fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mount_point = dir.path().join("disk");
        std::fs::create_dir(&mount_point).expect("mount point");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&mount_point)
            .output();
        match output {
            Ok(output) if output.status.success() => Some(SmallDisk {
                mount_point,
                _dir: dir,
            }),
            Ok(output) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs (needs root): {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                None
            }
            Err(error) => {
                eprintln!("SKIPPED: no mount command: {error}");
                None
            }
        }
    }

    /// Grows (or shrinks) the file system to `bytes`, keeping its files.
    fn resize(&self, bytes: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(&self.mount_point)
            .status()
            .expect("remount");
        assert!(status.success(), "remount to {bytes} bytes");
    }

    fn path(&self) -> &Path {
        &self.mount_point
    }

    /// Bytes still free.
    fn available(&self) -> u64 {
        let output = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.mount_point)
            .output()
            .expect("df");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .nth(1)
            .and_then(|line| line.trim().parse().ok())
            .expect("df output")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
    }
}

fn stored_set(data: &Path) -> HashSet<String> {
    stored_paths(data).into_iter().collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The error line of a failed command: one line, naming the disk as the cause.
fn assert_clear_disk_full_error(output: &Output, what: &str) {
    let text = stderr(output);
    assert!(!output.status.success(), "{what} succeeded on a full disk");
    assert!(!text.contains("panicked"), "{what} panicked:\n{text}");
    let error_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(
        error_lines.len(),
        1,
        "{what}: one error line expected:\n{text}"
    );
    assert!(
        error_lines[0].contains("No space left on device"),
        "{what}: the error does not name the cause:\n{text}"
    );
}

const PAGES: usize = 1500;

fn expected() -> HashSet<String> {
    expected_pages()
        .into_iter()
        .chain(generated_pages(PAGES))
        .collect()
}

fn crawl_args(site: &FixtureSite, dir: &Path, data: &Path) -> Vec<String> {
    let seeds = dir.join("seeds.txt");
    std::fs::write(&seeds, site.url("/")).expect("seeds");
    [
        "crawl",
        "--seeds",
        &seeds.to_string_lossy(),
        "--data",
        &data.to_string_lossy(),
        "--delay-ms",
        "0",
        "--allow-private-addresses",
    ]
    .map(str::to_string)
    .to_vec()
}

/// A tmpfs of `bytes`, the fixture site with [`PAGES`] generated pages, a work directory
/// for the seeds, and the data directory (on the tmpfs); `None` where mounting fails.
fn setup(bytes: u64) -> Option<(SmallDisk, FixtureSite, tempfile::TempDir, PathBuf)> {
    let disk = SmallDisk::mount(bytes)?;
    let site = FixtureSite::start(FixtureOptions {
        generated_pages: PAGES,
        ..FixtureOptions::default()
    });
    let work = tempfile::tempdir().expect("temp dir");
    let data = disk.path().join("data");
    Some((disk, site, work, data))
}

fn quarry(args: &[String]) -> Output {
    run_quarry(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_crawl_that_fills_the_disk_stops_cleanly_and_resumes_when_there_is_room() {
    let Some((disk, site, work, data)) = setup(1 << 20) else {
        return;
    };
    let args = crawl_args(&site, work.path(), &data);

    let full = quarry(&args);
    assert_clear_disk_full_error(&full, "crawl");
    let partial = stored_set(&data);
    assert!(
        !partial.is_empty() && partial.len() < expected().len(),
        "the disk filled at {} of {} pages",
        partial.len(),
        expected().len()
    );
    // Still full: the next run fails the same clean way and loses nothing.
    let again = quarry(&args);
    assert_clear_disk_full_error(&again, "crawl on a still-full disk");
    assert!(stored_set(&data).is_superset(&partial));

    disk.resize(256 << 20);
    let resumed = quarry(&args);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(
        stored_set(&data),
        expected(),
        "every page stored, as by an uninterrupted crawl"
    );
}

#[test]
fn an_index_build_on_a_full_disk_fails_cleanly_and_the_current_generation_keeps_serving() {
    let Some((disk, site, work, data)) = setup(256 << 20) else {
        return;
    };
    let crawl = quarry(&crawl_args(&site, work.path(), &data));
    assert!(crawl.status.success(), "{}", stderr(&crawl));
    let data_arg = data.to_string_lossy().into_owned();
    let first = run_quarry(&["index", "rebuild", "--data", &data_arg]);
    assert!(first.status.success(), "{}", stderr(&first));
    let search = || {
        let output = run_quarry(&["search", "--data", &data_arg, "--json", "generated"]);
        assert!(output.status.success(), "search: {}", stderr(&output));
        let response: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        response["hits"].clone()
    };
    // A rebuild may order the documents differently (two indexing threads), which
    // reorders hits of equal score: compare the total, scores and the unambiguous hits.
    let answers = |hits: &serde_json::Value| {
        let hits = hits.as_array().expect("hits");
        let last = hits.last().map(|hit| hit["score"].clone());
        let scores: Vec<_> = hits.iter().map(|hit| hit["score"].clone()).collect();
        let sure: Vec<_> = hits
            .iter()
            .filter(|hit| Some(&hit["score"]) != last.as_ref())
            .map(|hit| hit["url"].clone())
            .collect();
        (scores, sure)
    };
    let before = search();
    assert!(!before.as_array().expect("hits").is_empty());
    let index_listing = || {
        let mut names: Vec<String> = std::fs::read_dir(data.join("index"))
            .expect("index dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    };
    let generations_before = index_listing();

    // Leave 64 KiB: far less than a generation needs.
    let filler = disk.path().join("filler");
    let room = disk.available();
    std::fs::write(&filler, vec![0u8; (room - (64 << 10)) as usize]).expect("filler");
    for command in ["rebuild", "update"] {
        let failed = run_quarry(&["index", command, "--data", &data_arg]);
        assert_clear_disk_full_error(&failed, &format!("index {command}"));
        assert_eq!(search(), before, "index {command} failed: same answers");
        assert_eq!(
            index_listing(),
            generations_before,
            "index {command} failed: its partial generation is removed"
        );
    }

    std::fs::remove_file(&filler).expect("remove filler");
    let rebuilt = run_quarry(&["index", "rebuild", "--data", &data_arg]);
    assert!(rebuilt.status.success(), "{}", stderr(&rebuilt));
    assert_eq!(
        answers(&search()),
        answers(&before),
        "a rebuild of the same pages answers the same"
    );
}
