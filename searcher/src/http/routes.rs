//! Request handlers.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use utoipa::OpenApi;

use super::{ApiDoc, ApiError, AppState, Backend, ErrorBody, ui};
use crate::shards::{
    CandidatesRequest, CandidatesResponse, HitsRequest, HitsResponse, StatsRequest, StatsResponse,
};
use crate::{CacheHit, ErrorCode, SearchEngine, SearchRequest, SearchResponse};

/// Hits per page when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 10;

/// Query-string parameters of `/search` and `/`. Values are taken as text so that a
/// malformed value gets a precise error; unknown parameters are ignored.
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The query: words (all must match), `"quoted phrases"`, `-excluded` words.
    /// Required; at most 1,000 characters.
    #[param(required = true, value_type = String)]
    q: Option<String>,
    /// Hits per page, 1–100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page, to get the next one.
    cursor: Option<String>,
    /// `true`: every hit carries its score parts (`explanation`).
    #[param(value_type = Option<bool>)]
    explain: Option<String>,
}

fn bad_request(message: String) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message)
}

/// Decodes one `application/x-www-form-urlencoded` component, insisting on UTF-8.
fn decode_component(text: &str) -> Result<String, ApiError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = text
                    .get(i + 1..i + 3)
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| {
                        bad_request("malformed percent-encoding in the query string".into())
                    })?;
                out.push(byte);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad_request("the query string is not valid UTF-8".into()))
}

impl SearchParams {
    /// Parses a raw query string.
    fn parse(raw: Option<&str>) -> Result<SearchParams, ApiError> {
        let mut params = SearchParams::default();
        for pair in raw.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode_component(key)?;
            let slot = match key.as_str() {
                "q" => &mut params.q,
                "limit" => &mut params.limit,
                "cursor" => &mut params.cursor,
                "explain" => &mut params.explain,
                _ => continue,
            };
            if slot.is_some() {
                return Err(bad_request(format!(
                    "parameter `{key}` is given more than once"
                )));
            }
            *slot = Some(decode_component(value)?);
        }
        Ok(params)
    }
}

fn to_request(params: &SearchParams) -> Result<SearchRequest, ApiError> {
    let q = params
        .q
        .as_deref()
        .ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "missing parameter `q`"))?;
    let limit = match params.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(text) => text.trim().parse::<usize>().map_err(|_| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "limit must be an integer between 1 and {}",
                    crate::MAX_LIMIT
                ),
            )
        })?,
    };
    let explain = match params.explain.as_deref() {
        None | Some("" | "false" | "0") => false,
        Some("true" | "1") => true,
        Some(_) => {
            return Err(bad_request("explain must be `true` or `false`".to_string()));
        }
    };
    Ok(SearchRequest::new(q, limit, params.cursor.as_deref())?.with_explain(explain))
}

/// `GET /search?q=…&limit=…&cursor=…&explain=true`
#[utoipa::path(
    get,
    path = "/search",
    params(SearchParams),
    responses(
        (status = 200, description = "One page of results, best first.", body = SearchResponse),
        (status = 400, description = "`bad_request`: the message says what was wrong.", body = ErrorBody),
        (status = 503, description = "`overloaded`: retry after `Retry-After` seconds.", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))),
        (status = 504, description = "`timeout`: the search took longer than the server allows.", body = ErrorBody),
        (status = 500, description = "`internal`: details are in the server log only.", body = ErrorBody),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = SearchParams::parse(raw.as_deref())?;
    let request = to_request(&params)?;
    Ok(match answer(&state, request).await? {
        // The cached JSON as it was written, with this lookup's time.
        Answer::Cached(hit) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            hit.json(),
        )
            .into_response(),
        Answer::Searched(response) => Json(response).into_response(),
    })
}

/// A search's answer: from the result cache or searched just now.
enum Answer {
    Cached(CacheHit),
    Searched(SearchResponse),
}

impl Answer {
    fn into_search_response(self) -> SearchResponse {
        match self {
            Answer::Cached(hit) => hit.response(),
            Answer::Searched(response) => response,
        }
    }
}

/// Answers a search from the result cache, the index or the shards.
async fn answer(state: &AppState, request: SearchRequest) -> Result<Answer, ApiError> {
    match &state.backend {
        Backend::Local(engine) => {
            // A cached answer costs a map lookup: no admission slot, no blocking pool.
            if let Some(hit) = engine.cached(&request) {
                return Ok(Answer::Cached(hit));
            }
            Ok(Answer::Searched(
                state
                    .run_blocking(move |engine| engine.search_fresh(&request))
                    .await??,
            ))
        }
        Backend::Shards(federation) => {
            let federation = federation.clone();
            Ok(Answer::Searched(
                state
                    .run_async(async move { federation.search(&request).await })
                    .await??,
            ))
        }
    }
}

/// Completions per `/suggest` call when `limit` is absent.
pub const DEFAULT_SUGGESTIONS: usize = 8;

/// `GET /suggest?q=…&limit=…`
#[utoipa::path(
    get,
    path = "/suggest",
    params(
        ("q" = String, Query, description = "What the user typed so far (at most 100 characters are used)."),
        ("limit" = Option<u32>, Query, description = "Completions to return, 1–20 (default 8).", minimum = 1, maximum = 20),
    ),
    responses(
        (status = 200, description = "Completions from the index's dictionary: whole page titles first, then the last word completed.", body = crate::suggest::SuggestResponse),
        (status = 400, description = "`bad_request`: the message says what was wrong.", body = ErrorBody),
        (status = 503, description = "`overloaded`: retry after `Retry-After` seconds.", body = ErrorBody),
    )
)]
pub async fn suggest(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<crate::suggest::SuggestResponse>, ApiError> {
    let params = SearchParams::parse(raw.as_deref())?;
    let q = params
        .q
        .ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "missing parameter `q`"))?;
    let limit = match params.limit.as_deref() {
        None | Some("") => DEFAULT_SUGGESTIONS,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=crate::suggest::MAX_SUGGESTIONS).contains(&n) => n,
            _ => {
                return Err(bad_request(format!(
                    "limit must be an integer between 1 and {}",
                    crate::suggest::MAX_SUGGESTIONS
                )));
            }
        },
    };
    let response = match &state.backend {
        Backend::Local(_) => {
            state
                .run_blocking(move |engine| engine.suggest(&q, limit))
                .await?
        }
        Backend::Shards(federation) => {
            let federation = federation.clone();
            state
                .run_async(async move { federation.suggest(&q, limit).await })
                .await?
        }
    };
    Ok(Json(response))
}

/// What `/healthz` and `/readyz` report.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ServingStatus {
    /// `"ok"` (`/healthz`) or `"ready"` (`/readyz`).
    pub status: String,
    /// The index generation being served.
    pub generation: String,
    /// Documents in that generation.
    pub documents: u64,
}

impl ServingStatus {
    fn of(state: &AppState, status: &str) -> ServingStatus {
        // Reading the served generation takes a lock and a counter, no index I/O, so it
        // needs no blocking thread and no admission.
        let (generation, documents) = state.served();
        ServingStatus {
            status: status.to_string(),
            generation,
            documents,
        }
    }
}

/// `GET /healthz`: liveness. The process answers HTTP; never goes through admission.
#[utoipa::path(
    get,
    path = "/healthz",
    responses((status = 200, description = "The server is alive.", body = ServingStatus))
)]
pub async fn healthz(State(state): State<AppState>) -> Json<ServingStatus> {
    Json(ServingStatus::of(&state, "ok"))
}

/// `GET /readyz`: readiness. A generation is loaded and a search would be admitted now.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready to search.", body = ServingStatus),
        (status = 503, description = "`overloaded`: the admission gate is full or the server is shutting down.",
            body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<ServingStatus>, ApiError> {
    if state.is_draining() {
        return Err(ApiError::new(
            ErrorCode::Overloaded,
            "the server is shutting down",
        ));
    }
    if state.admitted.available_permits() == 0 {
        return Err(ApiError::overloaded());
    }
    if !state.can_search() {
        return Err(ApiError::new(
            ErrorCode::Overloaded,
            "no shard of the index answers",
        ));
    }
    Ok(Json(ServingStatus::of(&state, "ready")))
}

/// `GET /metrics`: Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4.", body = String,
        content_type = "text/plain; version=0.0.4"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(&state.metrics_snapshot());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// `GET /openapi.json`: this API's OpenAPI description.
#[utoipa::path(
    get,
    path = "/openapi.json",
    responses((status = 200, description = "OpenAPI 3.1 document.", body = Object))
)]
pub async fn openapi() -> Response {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);
    Json(&*DOCUMENT).into_response()
}

/// `GET /?q=…&cursor=…`: the HTML search page.
#[utoipa::path(
    get,
    path = "/",
    params(SearchParams),
    responses((status = 200, description = "The search page (without `q`: an empty form).",
        body = String, content_type = "text/html"),
        (status = "4XX", description = "The page with the error explained.", body = String, content_type = "text/html"),
        (status = "5XX", description = "The page with the error explained.", body = String, content_type = "text/html"))
)]
pub async fn page(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let params = match SearchParams::parse(raw.as_deref()) {
        Ok(params) => params,
        Err(error) => {
            return (
                error.status(),
                Html(ui::render(&ui::Page::error("", &error))),
            )
                .into_response();
        }
    };
    let q = params.q.clone().unwrap_or_default();
    if q.trim().is_empty() {
        return Html(ui::render(&ui::Page::empty())).into_response();
    }
    let result = match to_request(&params) {
        Ok(request) => answer(&state, request).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(answer) => {
            let response = answer.into_search_response();
            Html(ui::render(&ui::Page::results(&q, &response))).into_response()
        }
        Err(error) => (
            error.status(),
            Html(ui::render(&ui::Page::error(&q, &error))),
        )
            .into_response(),
    }
}

/// Answers a `/shard/*` request: its JSON body parsed (`bad_request` for one that does
/// not fit), then `work` on the blocking pool.
async fn shard_call<Req, Resp>(
    state: &AppState,
    body: &[u8],
    work: fn(&SearchEngine, &Req) -> Result<Resp, crate::SearchError>,
) -> Result<Json<Resp>, ApiError>
where
    Req: serde::de::DeserializeOwned + Send + 'static,
    Resp: Send + 'static,
{
    let request: Req = serde_json::from_slice(body)
        .map_err(|error| bad_request(format!("malformed request body: {error}")))?;
    let response = state
        .run_blocking(move |engine| work(engine, &request))
        .await??;
    Ok(Json(response))
}

/// `POST /shard/stats`: this shard's BM25 statistics for a query's terms.
#[utoipa::path(
    post,
    path = "/shard/stats",
    request_body = StatsRequest,
    responses(
        (status = 200, description = "The statistics and the generation they are from.", body = StatsResponse),
        (status = 400, description = "`bad_request`: malformed body or query.", body = ErrorBody),
        (status = 404, description = "`not_found`: this server coordinates shards itself.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn shard_stats(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<StatsResponse>, ApiError> {
    shard_call(&state, &body, SearchEngine::shard_stats).await
}

/// `POST /shard/candidates`: this shard's best candidates, scored with the statistics
/// of all shards.
#[utoipa::path(
    post,
    path = "/shard/candidates",
    request_body = CandidatesRequest,
    responses(
        (status = 200, description = "Candidates after the key, best first, with the match count.", body = CandidatesResponse),
        (status = 400, description = "`bad_request`: malformed body or query, or another generation is served now.", body = ErrorBody),
        (status = 404, description = "`not_found`: this server coordinates shards itself.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn shard_candidates(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<CandidatesResponse>, ApiError> {
    shard_call(&state, &body, SearchEngine::shard_candidates).await
}

/// `POST /shard/hits`: renders the hits a coordinator picked from this shard.
#[utoipa::path(
    post,
    path = "/shard/hits",
    request_body = HitsRequest,
    responses(
        (status = 200, description = "The hits, in the order asked.", body = HitsResponse),
        (status = 400, description = "`bad_request`: malformed body, unknown document, or another generation is served now.", body = ErrorBody),
        (status = 404, description = "`not_found`: this server coordinates shards itself.", body = ErrorBody),
        (status = 503, description = "`overloaded`.", body = ErrorBody),
    )
)]
pub async fn shard_hits(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<HitsResponse>, ApiError> {
    shard_call(&state, &body, SearchEngine::shard_hits).await
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

/// A routed path with another method than its own (`GET`/`HEAD`, `POST` for
/// `/shard/*`): 405 with `Allow`, and the JSON error body every other error has (code
/// `bad_request`).
pub async fn method_not_allowed(uri: axum::http::Uri) -> Response {
    let allow = if uri.path().starts_with("/shard/") {
        "POST"
    } else {
        "GET, HEAD"
    };
    let mut response = ApiError::new(
        ErrorCode::BadRequest,
        format!("only {allow} is supported on this endpoint"),
    )
    .into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_decoded_strictly() {
        let params = SearchParams::parse(Some("q=caf%C3%A9+au+lait&limit=5&other=x")).unwrap();
        assert_eq!(params.q.as_deref(), Some("café au lait"));
        assert_eq!(params.limit.as_deref(), Some("5"));
        assert!(params.cursor.is_none());
        for bad in ["q=%FF", "q=%2", "q=%zz", "q=a&q=b", "limit=1&limit=2"] {
            let error = SearchParams::parse(Some(bad)).unwrap_err();
            assert_eq!(error.code(), ErrorCode::BadRequest, "{bad}");
        }
        assert!(SearchParams::parse(None).unwrap().q.is_none());
    }

    #[test]
    fn explain_is_a_boolean() {
        for good in ["q=x&explain=true", "q=x&explain=0", "q=x&explain="] {
            let params = SearchParams::parse(Some(good)).unwrap();
            assert!(to_request(&params).is_ok(), "{good}");
        }
        let params = SearchParams::parse(Some("q=x&explain=maybe")).unwrap();
        let error = to_request(&params).unwrap_err();
        assert_eq!(error.code(), ErrorCode::BadRequest);
    }
}
