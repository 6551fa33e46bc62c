//! Errors of the searcher and their stable codes.

use crate::query::QueryError;

/// The closed set of error codes clients see. Only the HTTP edge turns a code into a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The query text is missing, empty, too long or has nothing to search for.
    BadQuery,
    /// A parameter other than the query is invalid (e.g. `limit`).
    BadParameter,
    /// The paging cursor is malformed or belongs to another index generation.
    BadCursor,
    /// No such resource.
    NotFound,
    /// Too many searches are running or queued; retry later.
    Overloaded,
    /// The search took longer than the server allows.
    Timeout,
    /// No index has been built yet.
    NoIndex,
    /// Something failed inside the server.
    Internal,
}

impl ErrorCode {
    /// The code as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadQuery => "bad_query",
            ErrorCode::BadParameter => "bad_parameter",
            ErrorCode::BadCursor => "bad_cursor",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Timeout => "timeout",
            ErrorCode::NoIndex => "no_index",
            ErrorCode::Internal => "internal",
        }
    }
}

/// What can go wrong answering a search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query text is unusable.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// `limit` is out of range.
    #[error("limit must be between 1 and {max}, got {got}")]
    BadLimit {
        /// The largest allowed limit.
        max: usize,
        /// What was asked for.
        got: String,
    },
    /// The cursor could not be decoded.
    #[error("invalid cursor: {reason}")]
    BadCursor {
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The cursor was issued for another index generation.
    #[error(
        "the cursor belongs to an index generation that is no longer served; start the search again"
    )]
    StaleCursor,
    /// Opening or reading the index failed.
    #[error("index unavailable")]
    Index(#[from] quarry_indexer::IndexError),
    /// tantivy failed while searching.
    #[error("search failed")]
    Tantivy(#[from] tantivy::TantivyError),
}

impl SearchError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            SearchError::Query(_) => ErrorCode::BadQuery,
            SearchError::BadLimit { .. } => ErrorCode::BadParameter,
            SearchError::BadCursor { .. } | SearchError::StaleCursor => ErrorCode::BadCursor,
            SearchError::Index(quarry_indexer::IndexError::NoGeneration { .. }) => {
                ErrorCode::NoIndex
            }
            SearchError::Index(_) | SearchError::Tantivy(_) => ErrorCode::Internal,
        }
    }
}
