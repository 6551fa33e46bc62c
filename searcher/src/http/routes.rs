//! Request handlers.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};

use super::{ApiError, AppState, ui};
use crate::{ErrorCode, SearchRequest, SearchResponse};

/// Hits per page when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 10;

/// Query-string parameters of `/search` and `/`. Values are taken as text so that a
/// malformed value gets a precise error; unknown parameters are ignored.
#[derive(Debug, Default)]
pub struct SearchParams {
    q: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    explain: Option<String>,
}

fn bad_parameter(message: String) -> ApiError {
    ApiError::new(ErrorCode::BadParameter, message)
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
                        bad_parameter("malformed percent-encoding in the query string".into())
                    })?;
                out.push(byte);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad_parameter("the query string is not valid UTF-8".into()))
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
                return Err(bad_parameter(format!(
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
        .ok_or_else(|| ApiError::new(ErrorCode::BadQuery, "missing parameter `q`"))?;
    let limit = match params.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(text) => text.trim().parse::<usize>().map_err(|_| {
            ApiError::new(
                ErrorCode::BadParameter,
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
            return Err(bad_parameter(
                "explain must be `true` or `false`".to_string(),
            ));
        }
    };
    Ok(SearchRequest::new(q, limit, params.cursor.as_deref())?.with_explain(explain))
}

/// `GET /search?q=…&limit=…&cursor=…&explain=true`
pub async fn search(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SearchResponse>, ApiError> {
    let params = SearchParams::parse(raw.as_deref())?;
    let request = to_request(&params)?;
    let response = state
        .run_blocking(move |engine| engine.search(&request))
        .await??;
    Ok(Json(response))
}

/// `GET /healthz`: the server is up and which generation it serves.
pub async fn healthz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let (generation, documents) = state
        .run_blocking(|engine| (engine.generation(), engine.documents()))
        .await?;
    Ok(Json(serde_json::json!({
        "status": "ok",
        "generation": generation.to_string(),
        "documents": documents,
    })))
}

/// `GET /?q=…&cursor=…`: the HTML search page.
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
        Ok(request) => state
            .run_blocking(move |engine| engine.search(&request))
            .await
            .and_then(|result| result.map_err(ApiError::from)),
        Err(error) => Err(error),
    };
    match result {
        Ok(response) => Html(ui::render(&ui::Page::results(&q, &response))).into_response(),
        Err(error) => (
            error.status(),
            Html(ui::render(&ui::Page::error(&q, &error))),
        )
            .into_response(),
    }
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
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
            assert_eq!(error.code(), ErrorCode::BadParameter, "{bad}");
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
        assert_eq!(error.code(), ErrorCode::BadParameter);
    }
}
