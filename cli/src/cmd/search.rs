//! `quarry search`: the API's answer, without a server.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use quarry_searcher::{ErrorCode, SearchRequest};

use crate::UsageError;
use crate::config::Config;

/// Search the current index of DIR and print the hits (the same as `GET /search`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Hits to show (1–100).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub limit: usize,
    /// Continue after the page that returned this cursor.
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
    /// Print the JSON response of the API.
    #[arg(long)]
    pub json: bool,
    /// The query: words (all required), "phrases", -excluded, a OR b.
    #[arg(required = true, num_args = 1.., value_name = "QUERY")]
    pub query: Vec<String>,
}

/// Turns `<mark>` snippets into terminal text.
fn plain_snippet(html: &str) -> String {
    html.replace("<mark>", "\x1b[1m")
        .replace("</mark>", "\x1b[0m")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// `quarry search`.
pub async fn run(args: Args, _config: Config) -> anyhow::Result<ExitCode> {
    let query = args.query.join(" ");
    let engine = super::serve::open_engine(&args.data)?;
    let result = SearchRequest::new(&query, args.limit, args.cursor.as_deref())
        .and_then(|request| engine.search(&request));
    let response = match result {
        Ok(response) => response,
        Err(error)
            if matches!(
                error.code(),
                ErrorCode::BadQuery | ErrorCode::BadParameter | ErrorCode::BadCursor
            ) =>
        {
            return Err(UsageError(error.to_string()).into());
        }
        Err(error) => return Err(error).context("search failed"),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&response)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} results ({:.1} ms, {})",
        response.total, response.took_ms, response.generation
    );
    for (rank, hit) in response.hits.iter().enumerate() {
        println!(
            "\n{:>2}. {}\n    {}\n    {}",
            rank + 1,
            hit.title,
            hit.url,
            plain_snippet(&hit.snippet)
        );
    }
    if let Some(cursor) = &response.next_cursor {
        println!("\nnext page: --cursor {cursor}");
    }
    Ok(ExitCode::SUCCESS)
}
