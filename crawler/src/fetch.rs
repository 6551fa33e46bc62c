//! Fetching one URL over HTTP(S): no automatic redirects (the crawl records and schedules
//! them), a time limit per fetch, a body size cap enforced while streaming, HTML only.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{
    ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LOCATION,
    USER_AGENT,
};
use url::Url;

use crate::address::{AddressPolicy, AddressRefused, GuardedResolver};
use crate::canonical::CanonicalUrl;
use crate::config::CrawlConfig;
use crate::frontier::FetchRecord;

const ACCEPT_HTML: &str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1";

/// Why a fetch produced no HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The fetch ran past its time limit.
    #[error("timed out after {limit_ms} ms")]
    Timeout {
        /// The limit.
        limit_ms: u64,
    },
    /// The host resolves to (or is) an address the guard refuses.
    #[error("refused non-public address {address}")]
    AddressRefused {
        /// The refused address.
        address: IpAddr,
    },
    /// DNS resolution or the TCP/TLS connection failed.
    #[error("connection failed: {reason}")]
    Connect {
        /// The cause, as the HTTP client described it.
        reason: String,
    },
    /// The body is larger than the configured cap.
    #[error("body larger than {limit_bytes} bytes")]
    TooLarge {
        /// The cap.
        limit_bytes: u64,
    },
    /// The connection broke or the body could not be decoded.
    #[error("reading the body failed: {reason}")]
    Body {
        /// The cause.
        reason: String,
    },
    /// Any other failure of the request.
    #[error("request failed: {reason}")]
    Request {
        /// The cause.
        reason: String,
    },
}

impl FetchError {
    /// A short stable name of the error kind (for dead letters and grouping).
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Timeout { .. } => "timeout",
            FetchError::AddressRefused { .. } => "address_refused",
            FetchError::Connect { .. } => "connect",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Body { .. } => "body",
            FetchError::Request { .. } => "request",
        }
    }

    fn from_reqwest(error: &reqwest::Error, limit_ms: u64) -> FetchError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<AddressRefused>() {
                return FetchError::AddressRefused {
                    address: refused.address,
                };
            }
            source = cause.source();
        }
        let reason = error_chain(error);
        if error.is_timeout() {
            FetchError::Timeout { limit_ms }
        } else if error.is_connect() {
            FetchError::Connect { reason }
        } else if error.is_body() || error.is_decode() {
            FetchError::Body { reason }
        } else {
            FetchError::Request { reason }
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An HTTP response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The URL requested.
    pub url: CanonicalUrl,
    /// HTTP status code.
    pub status: u16,
    /// Response headers in order (values decoded lossily).
    pub headers: Vec<(String, String)>,
    /// Request headers sent.
    pub request_headers: Vec<(String, String)>,
    /// The body (content-decoded); empty for redirects and errors.
    pub body: Vec<u8>,
    /// The address connected to.
    pub ip: Option<IpAddr>,
    /// Time from request start to the end of the headers, or of the body when it was read.
    pub elapsed: Duration,
}

impl Fetched {
    /// First header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What fetching a page URL gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageResponse {
    /// A 2xx HTML page with its body.
    Html(Fetched),
    /// A 2xx response that is not HTML; the body was not read.
    NotHtml {
        /// The response (without body).
        fetched: Fetched,
        /// Its content type.
        content_type: String,
    },
    /// A 3xx response; `location` is the raw `Location` header if any.
    Redirect {
        /// The response (without body).
        fetched: Fetched,
        /// The `Location` header.
        location: Option<String>,
    },
    /// 304: the page did not change since the fetch whose validators were sent.
    NotModified(Fetched),
    /// Any other status (4xx, 5xx, 1xx …); the body was not read.
    Status(Fetched),
}

/// What fetching robots.txt gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RobotsResponse {
    /// 2xx: the body (capped).
    Found(Vec<u8>),
    /// 4xx: no robots.txt, everything is allowed.
    Missing,
    /// 5xx or network failure: the host is unavailable for now.
    Unavailable(String),
    /// The address guard refused the host: its pages will be refused too (and counted).
    Refused,
}

/// Whether a `Content-Type` value is HTML.
pub fn is_html_type(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    mime.eq_ignore_ascii_case("text/html") || mime.eq_ignore_ascii_case("application/xhtml+xml")
}

/// The HTTP client of a crawl.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    user_agent: String,
    timeout_ms: u64,
    max_body_bytes: u64,
    max_robots_bytes: u64,
    max_redirects: u32,
    addresses: AddressPolicy,
}

/// Builds the HTTP client.
///
/// # Errors
/// When the TLS backend cannot be initialised.
pub fn build_fetcher(config: &CrawlConfig) -> Result<Arc<Fetcher>, FetchError> {
    let addresses = AddressPolicy::new(
        config.allow_private_addresses,
        &config.allowed_private_networks,
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_millis(config.request_timeout_ms))
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .dns_resolver(GuardedResolver::new(addresses.clone()))
        .pool_max_idle_per_host(config.max_connections_per_host.max(1))
        .no_proxy()
        .build()
        .map_err(|error| FetchError::Request {
            reason: error_chain(&error),
        })?;
    Ok(Arc::new(Fetcher {
        client,
        user_agent: config.user_agent(),
        timeout_ms: config.request_timeout_ms,
        max_body_bytes: config.max_body_bytes,
        max_robots_bytes: config.max_robots_bytes,
        max_redirects: config.max_redirects,
        addresses,
    }))
}

fn headers_of(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

impl Fetcher {
    /// Refuses IP-literal hosts outside the policy (host names are checked on resolution).
    fn check_literal(&self, url: &Url) -> Result<(), FetchError> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        if self.addresses.allows(ip) {
            Ok(())
        } else {
            Err(FetchError::AddressRefused { address: ip })
        }
    }

    fn request_headers(&self, url: &Url, previous: Option<&FetchRecord>) -> Vec<(String, String)> {
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or("")),
            None => url.host_str().unwrap_or("").to_string(),
        };
        let mut headers = vec![
            ("Host".to_string(), host),
            ("User-Agent".to_string(), self.user_agent.clone()),
            ("Accept".to_string(), ACCEPT_HTML.to_string()),
            ("Accept-Encoding".to_string(), "gzip".to_string()),
        ];
        if let Some(previous) = previous {
            if let Some(etag) = &previous.etag {
                headers.push(("If-None-Match".to_string(), etag.clone()));
            }
            if let Some(modified) = &previous.last_modified {
                headers.push(("If-Modified-Since".to_string(), modified.clone()));
            }
        }
        headers
    }

    async fn send(
        &self,
        url: &Url,
        previous: Option<&FetchRecord>,
    ) -> Result<reqwest::Response, FetchError> {
        self.check_literal(url)?;
        let mut request = self
            .client
            .get(url.clone())
            .header(USER_AGENT, &self.user_agent)
            .header(ACCEPT, ACCEPT_HTML);
        if let Some(previous) = previous {
            if let Some(etag) = &previous.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(modified) = &previous.last_modified {
                request = request.header(IF_MODIFIED_SINCE, modified);
            }
        }
        request
            .send()
            .await
            .map_err(|error| FetchError::from_reqwest(&error, self.timeout_ms))
    }

    /// Reads the body, failing as soon as it exceeds `limit` bytes.
    async fn read_body(
        &self,
        response: &mut reqwest::Response,
        limit: u64,
    ) -> Result<Vec<u8>, FetchError> {
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge { limit_bytes: limit });
        }
        let mut body = Vec::with_capacity(declared.unwrap_or(16 * 1024).min(limit) as usize);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| FetchError::from_reqwest(&error, self.timeout_ms))?
        {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge { limit_bytes: limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Fetches a page URL once (no redirect following). With the record of an earlier
    /// fetch, the request is conditional (`If-None-Match`, `If-Modified-Since`).
    ///
    /// # Errors
    /// [`FetchError`] when no complete response was received.
    pub async fn fetch_page(
        &self,
        url: &CanonicalUrl,
        previous: Option<&FetchRecord>,
    ) -> Result<PageResponse, FetchError> {
        let started = Instant::now();
        let mut response = self.send(url.as_url(), previous).await?;
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        let mut fetched = Fetched {
            url: url.clone(),
            status,
            headers: headers_of(response.headers()),
            request_headers: self.request_headers(url.as_url(), previous),
            body: Vec::new(),
            ip: response.remote_addr().map(|addr| addr.ip()),
            elapsed,
        };
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let page = match status {
            200..=299 => match content_type {
                Some(content_type) if !is_html_type(&content_type) => PageResponse::NotHtml {
                    fetched,
                    content_type,
                },
                _ => {
                    fetched.body = self.read_body(&mut response, self.max_body_bytes).await?;
                    fetched.elapsed = started.elapsed();
                    PageResponse::Html(fetched)
                }
            },
            300..=399 if status != 304 => {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                PageResponse::Redirect { fetched, location }
            }
            304 => PageResponse::NotModified(fetched),
            _ => PageResponse::Status(fetched),
        };
        Ok(page)
    }

    /// Fetches a sitemap once (no redirect following): its status, `Location` header and
    /// body (at most `max_bytes` as sent, before any gzip inside it is unpacked).
    ///
    /// # Errors
    /// [`FetchError`] when no complete response was received or the body is too large.
    pub async fn fetch_sitemap(
        &self,
        url: &Url,
        max_bytes: u64,
    ) -> Result<(u16, Option<String>, Vec<u8>), FetchError> {
        let mut response = self.send(url, None).await?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = if response.status().is_success() {
            self.read_body(&mut response, max_bytes).await?
        } else {
            Vec::new()
        };
        Ok((status, location, body))
    }

    /// Fetches `/robots.txt` of `origin`, following up to `max_redirects` redirects.
    /// Also returns the address the first request reached (for per-IP politeness).
    pub async fn fetch_robots(&self, origin: &Url) -> (RobotsResponse, Option<IpAddr>) {
        let mut ip = None;
        let response = self.fetch_robots_from(origin, &mut ip).await;
        (response, ip)
    }

    async fn fetch_robots_from(&self, origin: &Url, ip: &mut Option<IpAddr>) -> RobotsResponse {
        let Ok(mut url) = origin.join("/robots.txt") else {
            return RobotsResponse::Missing;
        };
        for _ in 0..=self.max_redirects {
            let mut response = match self.send(&url, None).await {
                Ok(response) => response,
                Err(FetchError::AddressRefused { .. }) => return RobotsResponse::Refused,
                Err(error) => return RobotsResponse::Unavailable(error.to_string()),
            };
            if ip.is_none() {
                *ip = response.remote_addr().map(|addr| addr.ip());
            }
            let status = response.status();
            if status.is_redirection() {
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|location| url.join(location).ok());
                match next {
                    Some(next) => {
                        url = next;
                        continue;
                    }
                    None => return RobotsResponse::Missing,
                }
            }
            if status.is_success() {
                // Google reads the first 500 KiB and ignores the rest; so do we.
                let mut body = Vec::new();
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            body.extend_from_slice(&chunk);
                            if body.len() as u64 >= self.max_robots_bytes {
                                body.truncate(self.max_robots_bytes as usize);
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(error) => {
                            let error = FetchError::from_reqwest(&error, self.timeout_ms);
                            return RobotsResponse::Unavailable(error.to_string());
                        }
                    }
                }
                return RobotsResponse::Found(body);
            }
            if status.is_client_error() {
                return RobotsResponse::Missing;
            }
            return RobotsResponse::Unavailable(format!("HTTP {}", status.as_u16()));
        }
        // Too many redirects: RFC 9309 says treat as unavailable (4xx-like after 5 hops).
        RobotsResponse::Missing
    }
}
