//! The OpenAPI description of the HTTP API, generated from the handlers' `#[utoipa::path]`
//! attributes and the response types' `ToSchema` derives, so it cannot drift from the code
//! silently: a test checks that every routed path is described.

use super::error::{ErrorBody, ErrorDetail};
use super::routes::{self, ServingStatus};
use crate::{ErrorCode, Hit, SearchResponse};

/// The OpenAPI document; `ApiDoc::openapi()` (from [`utoipa::OpenApi`]) builds it.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    info(
        title = "Quarry search API",
        description = "Full-text search over the pages Quarry crawled. Errors are \
            `{\"error\":{\"code\",\"message\"}}` with `code` one of `bad_request`, \
            `not_found`, `overloaded`, `timeout`, `internal`."
    ),
    paths(
        routes::search,
        routes::suggest,
        routes::page,
        routes::healthz,
        routes::readyz,
        routes::metrics,
        routes::openapi,
        routes::shard_stats,
        routes::shard_candidates,
        routes::shard_hits
    ),
    components(schemas(
        SearchResponse,
        crate::suggest::SuggestResponse,
        crate::suggest::Suggestion,
        Hit,
        ErrorBody,
        ErrorDetail,
        ErrorCode,
        ServingStatus,
        crate::shards::StatsRequest,
        crate::shards::StatsResponse,
        crate::shards::CandidatesRequest,
        crate::shards::CandidatesResponse,
        crate::shards::HitsRequest,
        crate::shards::HitsResponse,
        crate::shards::TermStats,
        crate::shards::FieldTokens,
        crate::shards::TermFrequency,
        crate::shards::WireKey,
        crate::shards::WireMode,
        crate::shards::WireSpread,
        crate::shards::Candidate,
        crate::shards::Correction,
        crate::shards::HitRequest,
        crate::Explanation
    ))
)]
pub struct ApiDoc;
