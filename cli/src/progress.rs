//! Progress lines for long work: rewritten in place on a terminal, one line every few
//! seconds otherwise (logs, CI).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Prints a progress line produced by `line` until the returned guard is dropped.
pub struct Progress {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    terminal: bool,
}

impl Progress {
    /// Starts printing `line(elapsed)` to stderr.
    pub fn start<F>(line: F) -> Progress
    where
        F: Fn(Duration) -> String + Send + 'static,
    {
        let terminal = std::io::stderr().is_terminal();
        let every = if terminal {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(5)
        };
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = &mut stopped => break,
                }
                let text = line(started.elapsed());
                let mut err = std::io::stderr().lock();
                if terminal {
                    let _ = write!(err, "\r\x1b[2K{text}");
                } else {
                    let _ = writeln!(err, "{text}");
                }
                let _ = err.flush();
            }
        });
        Progress {
            stop: Some(stop),
            task: Some(task),
            terminal,
        }
    }

    /// Stops printing and clears the line.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}
