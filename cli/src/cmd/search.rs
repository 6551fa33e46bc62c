//! `quarry search`: the API's answer, without a server.

use std::io::IsTerminal;
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

/// Turns an HTML snippet into terminal text: entities decoded, `<mark>` as bold on a
/// terminal and dropped otherwise.
fn plain_snippet(html: &str, bold: bool) -> String {
    let (on, off) = if bold {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("", "")
    };
    html.replace("<mark>", on)
        .replace("</mark>", off)
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
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
        Err(error) if error.code() == ErrorCode::BadRequest => {
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
    let bold = std::io::stdout().is_terminal();
    for (rank, hit) in response.hits.iter().enumerate() {
        let snippet = plain_snippet(&hit.snippet, bold);
        println!(
            "\n{:>2}. {}\n    {}\n    {snippet}",
            rank + 1,
            hit.title,
            hit.url
        );
    }
    if let Some(cursor) = &response.next_cursor {
        println!("\nnext page: --cursor {cursor}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::plain_snippet;

    #[test]
    fn snippets_become_plain_text() {
        let html = "a <mark>b</mark> &lt;T&gt; &amp; &#x27;x&#39; &quot;q&quot;";
        assert_eq!(plain_snippet(html, false), "a b <T> & 'x' \"q\"");
        assert_eq!(plain_snippet("<mark>b</mark>", true), "\x1b[1mb\x1b[0m");
    }
}
