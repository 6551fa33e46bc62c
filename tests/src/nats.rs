//! A real NATS server with JetStream on loopback for the tests: Debian's `nats-server`,
//! on 127.0.0.1 with a random port and its own store directory.
//!
//! Found as `nats-server` on the `PATH` (or `/usr/sbin/nats-server`) or through
//! `QUARRY_NATS_SERVER`. When it is missing, [`NatsServer::start`] returns `None` and the
//! test says it skipped, unless `QUARRY_REQUIRE_NATS=1` (CI sets it).

use std::path::PathBuf;
use std::process::Command;

use crate::binary::{KillOnDrop, spawn_logging_port};

/// A running `nats-server -js`; killed when dropped.
pub struct NatsServer {
    _child: KillOnDrop,
    _store: tempfile::TempDir,
    port: u16,
}

fn find_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("QUARRY_NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("nats-server"))
        .find(|path| path.is_file())
}

impl NatsServer {
    /// Starts the server, or `None` (after saying why) when it is not installed.
    ///
    /// # Panics
    /// When it is missing and `QUARRY_REQUIRE_NATS=1`, or does not start.
    pub fn start(test: &str) -> Option<NatsServer> {
        let Some(path) = find_server() else {
            let required = std::env::var("QUARRY_REQUIRE_NATS").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "QUARRY_REQUIRE_NATS=1 but no nats-server (apt-get install nats-server)"
            );
            eprintln!("skipping {test}: no nats-server (apt-get install nats-server)");
            return None;
        };
        let store = tempfile::tempdir().expect("jetstream dir");
        let mut command = Command::new(&path);
        command
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
            .arg(store.path());
        let (child, port) =
            spawn_logging_port(command, "Listening for client connections on 127.0.0.1:");
        Some(NatsServer {
            _child: child,
            _store: store,
            port,
        })
    }

    /// `nats://127.0.0.1:PORT/NAME`: the shared frontier of crawl `name`.
    pub fn frontier(&self, name: &str) -> String {
        format!("nats://127.0.0.1:{}/{name}", self.port)
    }
}
