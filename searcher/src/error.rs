//! Errors of the searcher and their stable codes.
//!
//! Clients see one of five codes, never more: `bad_request`, `not_found`, `overloaded`,
//! `timeout`, `internal`. The precise reason (which parameter, why a cursor was refused)
//! goes in the human-readable message, not in the code.
//!
//! A missing index ([`quarry_indexer::IndexError::NoGeneration`]) is `overloaded`: like a
//! saturated server, it is a temporary inability to answer that the client should retry
//! later (the HTTP edge adds `Retry-After`), not a missing resource (`not_found` would tell
//! clients to give up) and not a bug (`internal`).

use crate::query::QueryError;

/// The closed set of error codes clients see. Only the HTTP edge turns a code into a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed: the query text is missing, empty, too long or has nothing
    /// to search for; a parameter is out of range; the paging cursor is malformed or belongs
    /// to another index generation. The message says which.
    BadRequest,
    /// No such resource.
    NotFound,
    /// The server cannot answer now: too many searches running or queued, shutting down, or
    /// no index generation built yet. Retry later.
    Overloaded,
    /// The search took longer than the server allows.
    Timeout,
    /// Something failed inside the server.
    Internal,
}

impl ErrorCode {
    /// The code as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Timeout => "timeout",
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
    /// A server of several shards reached none of them.
    #[error("no shard of the index answered; retry shortly")]
    ShardsUnavailable,
    /// A shard refused a request of a search in progress (it switched generation between
    /// two round trips); the coordinator retries, so this does not reach clients.
    #[error("a shard switched index generation during the search; start the search again")]
    ShardRefused,
}

impl SearchError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            SearchError::Query(_)
            | SearchError::BadLimit { .. }
            | SearchError::BadCursor { .. }
            | SearchError::StaleCursor => ErrorCode::BadRequest,
            SearchError::Index(quarry_indexer::IndexError::NoGeneration { .. }) => {
                ErrorCode::Overloaded
            }
            SearchError::ShardsUnavailable => ErrorCode::Overloaded,
            SearchError::ShardRefused => ErrorCode::BadRequest,
            SearchError::Index(_) | SearchError::Tantivy(_) => ErrorCode::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_into_the_closed_set() {
        let cases = [
            (
                SearchError::BadLimit {
                    max: 100,
                    got: "0".into(),
                },
                ErrorCode::BadRequest,
            ),
            (
                SearchError::BadCursor { reason: "short" },
                ErrorCode::BadRequest,
            ),
            (SearchError::StaleCursor, ErrorCode::BadRequest),
            (
                SearchError::Index(quarry_indexer::IndexError::NoGeneration {
                    dir: "index".into(),
                }),
                ErrorCode::Overloaded,
            ),
            (
                SearchError::Tantivy(tantivy::TantivyError::InternalError("x".into())),
                ErrorCode::Internal,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "{error}");
            assert!(
                [
                    "bad_request",
                    "not_found",
                    "overloaded",
                    "timeout",
                    "internal"
                ]
                .contains(&error.code().as_str())
            );
        }
    }
}
