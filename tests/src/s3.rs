//! A real S3-compatible server on loopback for the tests: `moto_server` (Python `moto`,
//! from PyPI), started on 127.0.0.1 with an ephemeral port.
//!
//! The server is found through `QUARRY_MOTO_SERVER` (a path) or as `moto_server` on the
//! `PATH`. When it is missing, [`MotoServer::start`] returns `None` and the test says it
//! skipped, unless `QUARRY_REQUIRE_S3=1` (CI sets it), where a missing server fails the
//! test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use quarry_pagestore::RemoteStore;

use crate::binary::{KillOnDrop, spawn_logging_port};

/// A running `moto_server`; killed when dropped.
pub struct MotoServer {
    _child: KillOnDrop,
    port: u16,
}

fn find_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("QUARRY_MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("moto_server"))
        .find(|path| path.is_file())
}

impl MotoServer {
    /// Starts the server, or `None` (after saying why) when it is not installed.
    ///
    /// # Panics
    /// When it is missing and `QUARRY_REQUIRE_S3=1`, or does not start.
    pub fn start(test: &str) -> Option<MotoServer> {
        let Some(path) = find_server() else {
            let required = std::env::var("QUARRY_REQUIRE_S3").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "QUARRY_REQUIRE_S3=1 but no moto_server: set QUARRY_MOTO_SERVER or put it on PATH (pip install moto flask flask-cors)"
            );
            eprintln!(
                "skipping {test}: no S3-compatible server (pip install moto flask flask-cors, then set QUARRY_MOTO_SERVER=…/moto_server)"
            );
            return None;
        };
        let mut command = Command::new(&path);
        command.args(["-H", "127.0.0.1", "-p", "0"]);
        let (child, port) = spawn_logging_port(command, "http://127.0.0.1:");
        Some(MotoServer {
            _child: child,
            port,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a `quarry` process needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// Creates bucket `name` (moto accepts an unsigned `PUT /NAME`).
    ///
    /// # Panics
    /// When the server does not answer 200.
    pub fn create_bucket(&self, name: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        write!(
            stream,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// The page store at `s3://BUCKET/PREFIX` on this server, to inspect from a test.
    ///
    /// # Panics
    /// When the client cannot be built.
    pub fn store(&self, bucket: &str, prefix: &str) -> RemoteStore {
        let objects = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .expect("S3 client");
        RemoteStore::new(
            Arc::new(objects),
            object_store::path::Path::from(prefix),
            &format!("s3://{bucket}/{prefix}"),
        )
    }
}
