//! `quarry errors`: the dead-letter list of a crawl.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use quarry_crawler::DataLayout;
use quarry_crawler::frontier::{DeadLetter, Frontier};
use serde::Serialize;

use crate::UsageError;
use crate::config::Config;
use quarry_crawler::distributed::{FrontierUrl, Nats};

/// Inspect and retry URLs whose fetch kept failing (after all retries).
#[derive(Debug, clap::Subcommand)]
pub enum ErrorsCommand {
    /// List dead letters, grouped by host and error kind.
    List {
        /// Data directory.
        #[arg(long, value_name = "DIR", required_unless_present = "frontier")]
        data: Option<PathBuf>,
        /// The shared frontier of a crawl on NATS (`quarry crawl --frontier`): list its
        /// dead-letter stream instead.
        #[arg(long, value_name = "URL", conflicts_with = "data")]
        frontier: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Put dead letters back in the queue (all, or one host's); the next `quarry crawl`
    /// fetches them again.
    Retry {
        /// Data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Only this host name.
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
    },
}

#[derive(Serialize)]
struct Group<'a> {
    host: &'a str,
    kind: &'a str,
    count: usize,
    urls: Vec<&'a DeadLetter>,
}

fn open_frontier(data: &std::path::Path) -> anyhow::Result<Frontier> {
    let path = DataLayout::new(data).frontier();
    if !path.is_file() {
        bail!("no crawl in {}: nothing to list", data.display());
    }
    Frontier::open(&path).with_context(|| {
        format!(
            "opening {} (a running crawl holds it; stop it first)",
            path.display()
        )
    })
}

/// `quarry errors …`.
pub async fn run(command: ErrorsCommand, _config: Config) -> anyhow::Result<ExitCode> {
    match command {
        ErrorsCommand::List {
            data,
            frontier,
            json,
        } => {
            let (letters, retry_hint) = match (&data, &frontier) {
                (Some(data), _) => (
                    open_frontier(data)?.dead_letters()?,
                    format!(
                        "`quarry errors retry --data {}` requeues them",
                        data.display()
                    ),
                ),
                (None, Some(url)) => {
                    let url = FrontierUrl::parse(url).map_err(|e| UsageError(e.to_string()))?;
                    let nats = Nats::connect(&url).await?;
                    (
                        nats.dead_letters().await?,
                        format!("in the dead-letter stream of {}", url.server),
                    )
                }
                (None, None) => {
                    return Err(UsageError("give --data DIR or --frontier URL".into()).into());
                }
            };
            let mut groups: BTreeMap<(&str, &str), Vec<&DeadLetter>> = BTreeMap::new();
            for letter in &letters {
                groups
                    .entry((letter.host_key.as_str(), letter.kind.as_str()))
                    .or_default()
                    .push(letter);
            }
            let groups: Vec<Group<'_>> = groups
                .into_iter()
                .map(|((host, kind), urls)| Group {
                    host,
                    kind,
                    count: urls.len(),
                    urls,
                })
                .collect();
            if json {
                let output = serde_json::json!({ "total": letters.len(), "groups": groups });
                println!("{}", serde_json::to_string_pretty(&output)?);
            } else if letters.is_empty() {
                println!("no dead letters");
            } else {
                for group in &groups {
                    println!("{}  {}  {}", group.host, group.kind, group.count);
                    for letter in &group.urls {
                        println!(
                            "    {}  ({} attempts: {})",
                            letter.url, letter.attempts, letter.message
                        );
                    }
                }
                println!("{} URLs; {retry_hint}", letters.len());
            }
        }
        ErrorsCommand::Retry { data, host } => {
            let requeued = open_frontier(&data)?.requeue_dead(host.as_deref())?;
            println!(
                "requeued {requeued} URLs; run `quarry crawl` on {} to fetch them",
                data.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
