//! Quarry's searcher: answers queries from the current index generation.
//!
//! [`SearchEngine`] opens the generation that `index/CURRENT` names, reloads when the
//! pointer changes, parses queries with `site:`, `title:`, `url:` and `lang:` operators
//! ([`query`]), ranks with BM25 over title, headings, body and anchors times a link-graph
//! prior ([`rank`], itemized on request by [`explain`]), keeps one host from filling a
//! page ([`crowding`]), cuts highlighted snippets ([`snippet`]) and pages with opaque
//! search-after cursors ([`paging`]), offers completions and corrections from the
//! generation's dictionary ([`suggest`]). Index files are read through a counting
//! [`directory`], so each response says how many index bytes its search read, and recent
//! responses are answered from a bounded result cache. [`http`] serves it all over HTTP
//! with axum.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use quarry_searcher::{SearchEngine, SearchRequest};
//!
//! let engine = SearchEngine::open("data/index".as_ref())?;
//! let response = engine.search(&SearchRequest::new("borrow checker", 10, None)?)?;
//! for hit in response.hits {
//!     println!("{:.2} {} {}", hit.score, hit.url, hit.title);
//! }
//! # Ok(())
//! # }
//! ```

mod cache;
pub mod crowding;
pub mod directory;
mod engine;
mod error;
pub mod eval;
pub mod explain;
pub mod federation;
pub mod http;
pub mod paging;
pub mod query;
pub mod rank;
pub mod shards;
pub mod snippet;
pub mod suggest;

pub use cache::{CacheHit, CacheStats, DEFAULT_CACHE_ENTRIES};
pub use engine::{
    DID_YOU_MEAN_BELOW, EngineStats, Hit, MAX_LIMIT, SearchEngine, SearchRequest, SearchResponse,
};
pub use error::{ErrorCode, SearchError};
pub use explain::Explanation;
pub use rank::MatchMode;
