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
        routes::openapi
    ),
    components(schemas(
        SearchResponse,
        crate::suggest::SuggestResponse,
        crate::suggest::Suggestion,
        Hit,
        ErrorBody,
        ErrorDetail,
        ErrorCode,
        ServingStatus
    ))
)]
pub struct ApiDoc;
