//! Embedded storage engines measured on a crawler-frontier workload.
//!
//! Subcommands (see README.md):
//!   all                     every measurement for every engine, then a markdown table
//!   run <engine>            steps 1–3 once, in this process; prints one `RESULT` line
//!   crash <engine>          step 4: SIGKILL a writer child and check what survived
//!   crash-child <engine> <dir>   (internal) the writer that gets killed
//!
//! Options: --n <keys> (1000000), --runs <count> (3), --crash-trials <count> (5),
//!          --engines <a,b,..> (all five), --data-dir <dir> (system temp dir),
//!          --pop-budget-s <seconds> (60; the pop-min step stops there if not done)

mod store;
mod workload;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use store::Engine;
use workload::{QueueItem, Rng, SEED, url, url_batch};

/// Operations per transaction, for every step.
const BATCH: u64 = 1_000;

/// Upper bound on how long the crash child runs if nobody kills it.
const CRASH_CHILD_MAX_BATCHES: u64 = 1_000_000;

struct Options {
    n: u64,
    runs: usize,
    crash_trials: usize,
    engines: Vec<Engine>,
    data_dir: PathBuf,
    pop_budget: Duration,
}

impl Options {
    fn parse(args: &[String]) -> Result<(Options, Vec<String>)> {
        let mut options = Options {
            n: 1_000_000,
            runs: 3,
            crash_trials: 5,
            engines: Engine::ALL.to_vec(),
            data_dir: std::env::temp_dir().join("frontier-store-bench"),
            pop_budget: Duration::from_secs(60),
        };
        let mut positional = Vec::new();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .with_context(|| format!("{arg} needs a value"))
                    .cloned()
            };
            match arg.as_str() {
                "--n" => options.n = value()?.parse()?,
                "--runs" => options.runs = value()?.parse()?,
                "--crash-trials" => options.crash_trials = value()?.parse()?,
                "--engines" => {
                    options.engines = value()?
                        .split(',')
                        .map(Engine::parse)
                        .collect::<Result<_>>()?
                }
                "--data-dir" => options.data_dir = value()?.into(),
                "--pop-budget-s" => options.pop_budget = Duration::from_secs_f64(value()?.parse()?),
                flag if flag.starts_with("--") => bail!("unknown option {flag}"),
                _ => positional.push(arg.clone()),
            }
        }
        ensure!(
            options.n > 0 && options.n.is_multiple_of(BATCH),
            "--n must be a positive multiple of {BATCH}"
        );
        ensure!(options.runs > 0, "--runs must be at least 1");
        Ok((options, positional))
    }

    /// The flags a child process needs to reproduce these options.
    fn child_args(&self) -> Vec<String> {
        vec![
            "--n".into(),
            self.n.to_string(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
            "--pop-budget-s".into(),
            self.pop_budget.as_secs_f64().to_string(),
        ]
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (options, positional) = Options::parse(&args)?;
    let engine_arg = |index: usize| -> Result<Engine> {
        Engine::parse(positional.get(index).context("missing engine name")?)
    };
    match positional.first().map(String::as_str) {
        Some("all") => all(&options),
        Some("run") => {
            let engine = engine_arg(1)?;
            let dir = options.data_dir.join(engine.name());
            let result = run_steps(engine, &dir, options.n, options.pop_budget)?;
            println!("{}", result.to_line());
            Ok(())
        }
        Some("crash") => {
            let outcome = crash_test(engine_arg(1)?, &options)?;
            println!("{}", outcome.summary());
            Ok(())
        }
        Some("crash-child") => {
            let dir = positional.get(2).context("missing store directory")?;
            crash_child(engine_arg(1)?, Path::new(dir))
        }
        _ => bail!(
            "usage: frontier-store-bench <all | run ENGINE | crash ENGINE> [--n N] [--runs R] \
             [--crash-trials T] [--engines redb,sqlite,fjall] [--data-dir DIR]"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Steps 1–3: throughput, disk size, peak RSS.

#[derive(Clone, Debug, Default)]
struct RunResult {
    insert_per_s: f64,
    lookup_per_s: f64,
    push_per_s: f64,
    pop_per_s: f64,
    disk_bytes: f64,
    peak_rss_bytes: f64,
    /// Share of the queue popped before the pop budget ran out (1 = emptied it).
    pop_fraction: f64,
}

impl RunResult {
    const FIELDS: [&str; 7] = [
        "insert_per_s",
        "lookup_per_s",
        "push_per_s",
        "pop_per_s",
        "disk_bytes",
        "peak_rss_bytes",
        "pop_fraction",
    ];

    fn values(&self) -> [f64; 7] {
        [
            self.insert_per_s,
            self.lookup_per_s,
            self.push_per_s,
            self.pop_per_s,
            self.disk_bytes,
            self.peak_rss_bytes,
            self.pop_fraction,
        ]
    }

    /// `RESULT key=value ...`, the line a `run` child hands to its parent.
    fn to_line(&self) -> String {
        let pairs: Vec<String> = Self::FIELDS
            .iter()
            .zip(self.values())
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        format!("RESULT {}", pairs.join(" "))
    }

    fn from_line(line: &str) -> Result<RunResult> {
        let rest = line.strip_prefix("RESULT ").context("not a RESULT line")?;
        let mut fields = BTreeMap::new();
        for pair in rest.split_whitespace() {
            let (key, value) = pair.split_once('=').context("malformed RESULT field")?;
            fields.insert(key, value.parse::<f64>()?);
        }
        let get = |key: &str| fields.get(key).copied().context(format!("missing {key}"));
        Ok(RunResult {
            insert_per_s: get("insert_per_s")?,
            lookup_per_s: get("lookup_per_s")?,
            push_per_s: get("push_per_s")?,
            pop_per_s: get("pop_per_s")?,
            disk_bytes: get("disk_bytes")?,
            peak_rss_bytes: get("peak_rss_bytes")?,
            pop_fraction: get("pop_fraction")?,
        })
    }
}

/// Accumulates time spent inside store calls only (workload generation is not timed).
#[derive(Default)]
struct Stopwatch(Duration);

impl Stopwatch {
    fn time<T>(&mut self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let result = f();
        self.0 += start.elapsed();
        result
    }

    fn rate(&self, ops: u64) -> f64 {
        ops as f64 / self.0.as_secs_f64()
    }
}

/// Steps 1–3 on a fresh store in `dir`. Meant to run in its own process so VmHWM is per engine.
/// The pop-min step stops after `pop_budget` of store time; its rate is then over what it did.
fn run_steps(engine: Engine, dir: &Path, n: u64, pop_budget: Duration) -> Result<RunResult> {
    reset_dir(dir)?;
    let mut store = engine.open(dir)?;
    let batches = n / BATCH;
    let mut result = RunResult::default();

    // 1. seen-set insert-if-absent.
    let mut clock = Stopwatch::default();
    let mut new = 0;
    for batch in 0..batches {
        let urls = url_batch(batch * BATCH, BATCH);
        new += clock.time(|| store.insert_seen(&urls))?;
    }
    ensure!(new as u64 == n, "{engine:?}: {new} of {n} URLs were new");
    result.insert_per_s = clock.rate(n);
    result.disk_bytes = disk_usage(dir)? as f64;
    eprintln!("  {}: insert done", engine.name());

    // 2. seen-set lookups: half present (index < n), half absent (index >= n).
    let mut rng = Rng::new(SEED ^ 2);
    let mut clock = Stopwatch::default();
    for _ in 0..batches {
        let mut expected = 0;
        let urls: Vec<String> = (0..BATCH)
            .map(|_| {
                if rng.next_u64() & 1 == 0 {
                    expected += 1;
                    url(rng.below(n))
                } else {
                    url(n + rng.below(n))
                }
            })
            .collect();
        let found = clock.time(|| store.count_seen(&urls))?;
        ensure!(
            found == expected,
            "{engine:?}: found {found}, expected {expected}"
        );
    }
    result.lookup_per_s = clock.rate(n);
    eprintln!("  {}: lookup done", engine.name());

    // 3a. queue push.
    let mut rng = Rng::new(SEED ^ 3);
    let mut clock = Stopwatch::default();
    for batch in 0..batches {
        let items = workload::queue_batch(&mut rng, batch * BATCH, BATCH);
        clock.time(|| store.push(&items))?;
    }
    result.push_per_s = clock.rate(n);
    eprintln!("  {}: push done", engine.name());

    // 3b. queue pop-min until empty; entries must come out in key order.
    let mut clock = Stopwatch::default();
    let mut popped = 0;
    let mut previous: Option<(u64, u64)> = None;
    let mut out: Vec<QueueItem> = Vec::with_capacity(BATCH as usize);
    loop {
        out.clear();
        clock.time(|| store.pop_min(BATCH as usize, &mut out))?;
        for item in &out {
            let key = (item.due_ms, item.seq);
            ensure!(
                previous < Some(key),
                "{engine:?}: pop out of order at {key:?}"
            );
            ensure!(
                item.url == url(item.seq),
                "{engine:?}: wrong URL for {key:?}"
            );
            previous = Some(key);
        }
        popped += out.len() as u64;
        if out.len() < BATCH as usize || clock.0 > pop_budget {
            break;
        }
    }
    let finished = popped == n;
    ensure!(
        finished || clock.0 > pop_budget,
        "{engine:?}: popped {popped} of {n}"
    );
    result.pop_per_s = clock.rate(popped);
    result.pop_fraction = popped as f64 / n as f64;
    if finished {
        eprintln!("  {}: pop done", engine.name());
    } else {
        eprintln!(
            "  {}: pop stopped by the {:?} budget after {popped} of {n}",
            engine.name(),
            pop_budget
        );
    }

    drop(store);
    result.peak_rss_bytes = peak_rss_bytes()? as f64;
    std::fs::remove_dir_all(dir)?;
    Ok(result)
}

fn reset_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Bytes allocated on disk under `path` (like `du`), so preallocated-but-sparse space is not
/// counted and WAL / journal files are.
fn disk_usage(path: &Path) -> Result<u64> {
    let meta = std::fs::symlink_metadata(path)?;
    let mut total = meta.blocks() * 512;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            total += disk_usage(&entry?.path())?;
        }
    }
    Ok(total)
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss_bytes() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/self/status")?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib * 1024)
}

// ---------------------------------------------------------------------------------------------
// Step 4: crash durability.

/// The child: insert batch after batch, printing each batch number once its commit returned.
fn crash_child(engine: Engine, dir: &Path) -> Result<()> {
    let mut store = engine.open(dir)?;
    let mut stdout = std::io::stdout().lock();
    for batch in 0..CRASH_CHILD_MAX_BATCHES {
        store.insert_seen(&url_batch(batch * BATCH, BATCH))?;
        writeln!(stdout, "{batch}")?;
        stdout.flush()?;
    }
    Ok(())
}

struct CrashTrial {
    /// Highest batch the child reported committed before it was killed.
    last_reported: Option<u64>,
    /// Reported batches missing or incomplete after reopening.
    lost: u64,
    /// Batches present only in part (a torn transaction), reported or not.
    partial: u64,
    /// Fully present batches beyond the last reported one (committed, not yet printed).
    unreported_complete: u64,
}

struct CrashOutcome {
    trials: Vec<CrashTrial>,
}

impl CrashOutcome {
    fn kept_all(&self) -> bool {
        self.trials.iter().all(|t| t.lost == 0 && t.partial == 0)
    }

    fn cell(&self) -> String {
        let good = self
            .trials
            .iter()
            .filter(|t| t.lost == 0 && t.partial == 0)
            .count();
        let verdict = if self.kept_all() { "yes" } else { "**no**" };
        format!("{verdict} ({good}/{})", self.trials.len())
    }

    fn summary(&self) -> String {
        let details: Vec<String> = self
            .trials
            .iter()
            .map(|t| {
                let reported = t.last_reported.map_or(0, |b| b + 1);
                format!(
                    "{reported} reported, {} lost, {} partial, {} unreported-but-complete",
                    t.lost, t.partial, t.unreported_complete
                )
            })
            .collect();
        format!("{} — {}", self.cell(), details.join("; "))
    }
}

fn crash_test(engine: Engine, options: &Options) -> Result<CrashOutcome> {
    // Same seed for every engine, so every engine gets the same kill moments.
    let mut rng = Rng::new(SEED ^ 4);
    let mut trials = Vec::new();
    for trial in 0..options.crash_trials {
        let kill_after = Duration::from_millis(50 + rng.below(2_000));
        let dir = options.data_dir.join(format!("crash-{}", engine.name()));
        let outcome = crash_trial(engine, &dir, kill_after)?;
        eprintln!(
            "  {} crash trial {}: killed {} ms after first commit, {} batches reported",
            engine.name(),
            trial + 1,
            kill_after.as_millis(),
            outcome.last_reported.map_or(0, |b| b + 1)
        );
        trials.push(outcome);
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(CrashOutcome { trials })
}

fn crash_trial(engine: Engine, dir: &Path, kill_after: Duration) -> Result<CrashTrial> {
    reset_dir(dir)?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["crash-child", engine.name()])
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()?;

    // Read the child's reports on a thread so its pipe never fills up.
    let stdout = child.stdout.take().context("child stdout")?;
    let (reports, received) = mpsc::channel::<u64>();
    let reader = std::thread::spawn(move || -> Result<()> {
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            // Each report is one small write to a pipe (atomic), printed after the commit.
            let batch = line.trim().parse()?;
            if reports.send(batch).is_err() {
                break;
            }
        }
        Ok(())
    });

    // The random moment counts from the first commit, so every trial kills a busy writer.
    let first = received.recv_timeout(Duration::from_secs(60));
    if first.is_ok() {
        std::thread::sleep(kill_after);
    }
    let exited_early = child.try_wait()?;
    child.kill()?; // SIGKILL on Unix
    child.wait()?;
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader thread panicked"))??;
    let first = first.context("crash child reported no commit within 60 s")?;
    ensure!(
        exited_early.is_none(),
        "crash child exited on its own: {exited_early:?}"
    );
    let last_reported = received.try_iter().last().or(Some(first));

    // Reopen, as recovery after a crash would, and check batch by batch.
    let store = engine.open(dir)?;
    let mut trial = CrashTrial {
        last_reported,
        lost: 0,
        partial: 0,
        unreported_complete: 0,
    };
    let last = last_reported.unwrap_or(0);
    // Batches past the last report: the one in flight, and one more to make sure of no extras.
    for batch in 0..=last + 2 {
        let present = store.count_seen(&url_batch(batch * BATCH, BATCH))? as u64;
        let complete = present == BATCH;
        if 0 < present && present < BATCH {
            trial.partial += 1;
        }
        if batch <= last && !complete {
            trial.lost += 1;
        }
        if batch > last && complete {
            trial.unreported_complete += 1;
        }
    }
    Ok(trial)
}

// ---------------------------------------------------------------------------------------------
// `all`: run everything in child processes and print the markdown table.

fn all(options: &Options) -> Result<()> {
    let exe = std::env::current_exe()?;
    let mut runs: BTreeMap<usize, Vec<RunResult>> = BTreeMap::new();
    // Round-robin over engines so background load on a shared machine hits all of them alike.
    for run in 1..=options.runs {
        for (index, engine) in options.engines.iter().enumerate() {
            eprintln!("run {run}/{}: {}", options.runs, engine.name());
            let output = Command::new(&exe)
                .args(["run", engine.name()])
                .args(options.child_args())
                .stderr(Stdio::inherit())
                .output()?;
            ensure!(
                output.status.success(),
                "{} run failed: {}",
                engine.name(),
                output.status
            );
            let stdout = String::from_utf8(output.stdout)?;
            let line = stdout
                .lines()
                .find(|line| line.starts_with("RESULT "))
                .context("run printed no RESULT line")?;
            runs.entry(index)
                .or_default()
                .push(RunResult::from_line(line)?);
        }
    }

    let mut crashes = Vec::new();
    for engine in &options.engines {
        eprintln!("crash test: {}", engine.name());
        crashes.push(crash_test(*engine, options)?);
    }

    let fsync = fsync_latency(&options.data_dir)?;
    print_table(options, &runs, &crashes);
    println!();
    println!(
        "fsync probe on the data disk: 4 KiB append + fdatasync, median {:.0} µs over 200 \
         (data dir {}).",
        fsync.as_secs_f64() * 1e6,
        options.data_dir.display()
    );
    Ok(())
}

/// Median latency of a 4 KiB append followed by `fdatasync`, for reading the durable-commit
/// numbers: on a disk (or VM) where fsync is nearly free, Immediate and NORMAL look alike.
fn fsync_latency(data_dir: &Path) -> Result<Duration> {
    let path = data_dir.join("fsync-probe");
    std::fs::create_dir_all(data_dir)?;
    let mut file = std::fs::File::create(&path)?;
    let block = [0x5a_u8; 4096];
    let mut samples = Vec::with_capacity(200);
    for _ in 0..200 {
        let start = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(start.elapsed());
    }
    std::fs::remove_file(&path)?;
    samples.sort();
    Ok(samples[samples.len() / 2])
}

fn print_table(
    options: &Options,
    runs: &BTreeMap<usize, Vec<RunResult>>,
    crashes: &[CrashOutcome],
) {
    const MIB: f64 = 1024.0 * 1024.0;
    let metrics: [(&str, usize, f64); 6] = [
        ("1. seen-set insert-if-absent (keys/s)", 0, 1.0),
        ("2. seen-set lookup, 50% hits (lookups/s)", 1, 1.0),
        ("3a. queue push (pushes/s)", 2, 1.0),
        ("3b. queue pop-min (pops/s)", 3, 1.0),
        ("disk after step 1 (MiB)", 4, MIB),
        ("peak RSS, VmHWM (MiB)", 5, MIB),
    ];

    let header: Vec<&str> = options.engines.iter().map(|e| e.label()).collect();
    println!();
    println!(
        "{} URL keys, transactions of {BATCH}; cells are median / min of {} runs \
         (for throughput, min is the slowest run).",
        options.n, options.runs
    );
    println!();
    println!("| metric | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(header.len()));
    for (name, field, scale) in metrics {
        let cells: Vec<String> = (0..options.engines.len())
            .map(|index| {
                let mut values: Vec<f64> = runs[&index]
                    .iter()
                    .map(|r| r.values()[field] / scale)
                    .collect();
                values.sort_by(f64::total_cmp);
                let median = values[values.len() / 2];
                let min = values[0];
                let mut cell = if scale == 1.0 {
                    format!("{} / {}", thousands(median), thousands(min))
                } else {
                    format!("{median:.1} / {min:.1}")
                };
                if field == 3 {
                    let done = runs[&index]
                        .iter()
                        .map(|r| r.pop_fraction)
                        .fold(1.0, f64::min);
                    if done < 1.0 {
                        cell.push_str(&format!(" ‡ ({:.1}% popped)", done * 100.0));
                    }
                }
                cell
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    let crash_cells: Vec<String> = crashes.iter().map(CrashOutcome::cell).collect();
    println!(
        "| 4. SIGKILL: kept all committed batches ({} trials) | {} |",
        options.crash_trials,
        crash_cells.join(" | ")
    );
    if runs
        .values()
        .flatten()
        .any(|result| result.pop_fraction < 1.0)
    {
        println!();
        println!(
            "‡ did not empty the queue within the {:?} pop budget; the rate is over the pops \
             done (the smallest share popped in any run is shown), and it falls as tombstones pile up.",
            options.pop_budget
        );
    }

    println!();
    println!("Crash trials:");
    for (engine, crash) in options.engines.iter().zip(crashes) {
        println!("- {}: {}", engine.name(), crash.summary());
    }

    println!();
    println!("Raw runs (insert, lookup, push, pop in ops/s; disk, RSS in MiB; share popped):");
    for (index, engine) in options.engines.iter().enumerate() {
        for (run, result) in runs[&index].iter().enumerate() {
            let v = result.values();
            println!(
                "- {} run {}: {:.0}, {:.0}, {:.0}, {:.0}; {:.1}, {:.1}; {:.3}",
                engine.name(),
                run + 1,
                v[0],
                v[1],
                v[2],
                v[3],
                v[4] / MIB,
                v[5] / MIB,
                v[6]
            );
        }
    }
}

/// 1234567.8 -> "1,234,568"
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
