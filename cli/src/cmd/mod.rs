//! Subcommands: one module each, each with a `run`.

mod crawl;
mod demo;
mod errors;
mod eval;
mod import;
mod index;
mod search;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;

/// Quarry: crawl a set of sites into a page store, index it, and search it.
#[derive(Debug, Parser)]
#[command(name = "quarry", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML; unknown keys are rejected). Flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    Crawl(crawl::Args),
    #[command(subcommand)]
    Index(index::IndexCommand),
    Serve(serve::Args),
    Search(search::Args),
    Demo(demo::Args),
    Eval(eval::Args),
    Import(import::Args),
    #[command(subcommand)]
    Errors(errors::ErrorsCommand),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Crawl(args) => crawl::run(args, config).await,
            Command::Index(command) => index::run(command, config).await,
            Command::Serve(args) => serve::run(args, config).await,
            Command::Search(args) => search::run(args, config).await,
            Command::Demo(args) => demo::run(args, config).await,
            Command::Eval(args) => eval::run(args, config).await,
            Command::Import(args) => import::run(args, config).await,
            Command::Errors(command) => errors::run(command, config).await,
        }
    })
}

/// Completes on Ctrl-C or SIGTERM. A second Ctrl-C exits at once.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    eprintln!("\nstopping… (press Ctrl-C again to quit at once)");
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
}
