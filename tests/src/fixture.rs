//! The fixture site: a few dozen real-looking pages with links, a robots.txt that
//! disallows `/private/`, a redirect, a PDF, pages in legacy charsets, and a request log.
//! Options add generated pages (a site of any size), crawler traps, and failing pages.
//! Every 200 HTML answer carries an `ETag`; a matching `If-None-Match` gets 304.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// One topic page: path slug, title, body paragraph.
pub const TOPICS: &[(&str, &str, &str)] = &[
    (
        "volcanoes",
        "Volcanoes",
        "A volcano is a rupture in the crust where molten lava, ash and gases escape. Stratovolcanoes build steep cones from layers of hardened lava and tephra.",
    ),
    (
        "glaciers",
        "Glaciers",
        "Glaciers are slow rivers of ice that carve valleys, leave moraines behind and store most of the fresh water on Earth.",
    ),
    (
        "coral-reefs",
        "Coral reefs",
        "Coral reefs grow from colonies of tiny polyps that secrete calcium carbonate; warm shallow seas and sunlight let them thrive.",
    ),
    (
        "deserts",
        "Deserts",
        "Deserts receive less than 250 millimetres of rain a year; dunes migrate with the wind and cacti store water in their stems.",
    ),
    (
        "rainforests",
        "Rainforests",
        "Tropical rainforests hold more than half of all plant and animal species, layered from the forest floor to the emergent canopy.",
    ),
    (
        "tides",
        "Tides",
        "Tides rise and fall twice a day because the gravity of the Moon and the Sun pulls on the oceans.",
    ),
    (
        "earthquakes",
        "Earthquakes",
        "Earthquakes happen when tectonic plates slip along a fault; seismographs record the waves and the Richter scale rates them.",
    ),
    (
        "hurricanes",
        "Hurricanes",
        "Hurricanes are tropical cyclones fed by warm ocean water; the calm eye is surrounded by the eyewall with the strongest winds.",
    ),
    (
        "photosynthesis",
        "Photosynthesis",
        "Photosynthesis turns sunlight, water and carbon dioxide into glucose and oxygen inside the chloroplasts of plant cells.",
    ),
    (
        "honeybees",
        "Honeybees",
        "Honeybees communicate the direction of flowers with a waggle dance and turn nectar into honey inside wax combs.",
    ),
    (
        "octopuses",
        "Octopuses",
        "An octopus has three hearts, blue blood and eight arms lined with suckers that can taste what they touch.",
    ),
    (
        "migration",
        "Bird migration",
        "Arctic terns fly from pole to pole every year, navigating by the stars, the Sun and the magnetic field of the Earth.",
    ),
    (
        "bread",
        "Baking bread",
        "Sourdough bread rises because wild yeast and lactic bacteria ferment the dough; a hot oven gives the crust its colour.",
    ),
    (
        "cheese",
        "Cheese making",
        "Cheese is made by curdling milk with rennet, draining the whey and ageing the curds in caves or cellars.",
    ),
    (
        "tea",
        "Tea",
        "Green tea and black tea come from the same plant, Camellia sinensis; black tea leaves are oxidised before drying.",
    ),
    (
        "coffee",
        "Coffee",
        "Coffee beans are the roasted seeds of the coffee cherry; espresso forces hot water through finely ground coffee under pressure.",
    ),
    (
        "chess",
        "Chess",
        "In chess each player starts with sixteen pieces; checkmate ends the game when the king is attacked and cannot escape.",
    ),
    (
        "origami",
        "Origami",
        "Origami folds a single square sheet of paper into cranes, boxes and flowers without cutting or gluing.",
    ),
    (
        "lighthouses",
        "Lighthouses",
        "Lighthouses guide ships at night with a rotating lamp and a Fresnel lens that throws the beam far out to sea.",
    ),
    (
        "bicycles",
        "Bicycles",
        "A bicycle converts pedalling into motion through a chain and sprockets; derailleurs shift gears for climbing hills.",
    ),
    (
        "telescopes",
        "Telescopes",
        "Refracting telescopes gather light with lenses while reflecting telescopes use curved mirrors to see distant galaxies.",
    ),
    (
        "comets",
        "Comets",
        "Comets are icy bodies that grow a glowing coma and a long tail when their orbit brings them close to the Sun.",
    ),
    (
        "printing",
        "The printing press",
        "Gutenberg's printing press used movable metal type and oil-based ink to print books quickly in the fifteenth century.",
    ),
    (
        "compasses",
        "Compasses",
        "A magnetic compass needle aligns with the magnetic field of the Earth and points towards magnetic north.",
    ),
];

/// A page only reachable through the redirect from `/old-page`.
pub const MOVED_TITLE: &str = "Moved article";
/// A word that appears only on the page robots.txt disallows.
pub const SECRET_WORD: &str = "zanzibarquux";

/// Request log: paths in the order they were requested, with the time they arrived.
pub type RequestLog = Arc<Mutex<Vec<(Instant, String)>>>;

/// How the fixture behaves.
#[derive(Debug, Clone, Default)]
pub struct FixtureOptions {
    /// Sleep this long before answering each page request (not robots.txt).
    pub page_latency: Duration,
    /// `Crawl-delay` (seconds) to announce in robots.txt.
    pub crawl_delay: Option<f64>,
    /// Link two failing pages from the index: `/flaky.html` answers 503 twice, then 200;
    /// `/broken.html` always answers 500.
    pub failing_pages: bool,
    /// Listen on this loopback address instead of 127.0.0.1 (e.g. 127.0.0.2, so several
    /// sites are several hosts on several IP addresses).
    pub bind_ip: Option<Ipv4Addr>,
    /// Link `/gen/0.html` from the index: generated pages `/gen/0.html` … `/gen/{N-1}.html`
    /// forming a binary tree (page i links to 2i+1 and 2i+2), so a site of any size.
    pub generated_pages: usize,
    /// Link crawler traps and special pages from the index: an infinite calendar
    /// (`/calendar?day=N` links to day N+1), a self-similar path (`/loop/` links to
    /// `again/` relative, forever), `/print/volcanoes.html` whose `rel=canonical` is
    /// `/topics/volcanoes.html`, and `/busy.html`, which answers 429 without `Retry-After`
    /// the first time.
    pub traps: bool,
}

/// A running fixture site. Stops when dropped.
pub struct FixtureSite {
    addr: SocketAddr,
    log: RequestLog,
    concurrency: Arc<Concurrency>,
    changed: Arc<Mutex<HashSet<String>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone)]
struct AppState {
    log: RequestLog,
    concurrency: Arc<Concurrency>,
    options: FixtureOptions,
    changed: Arc<Mutex<HashSet<String>>>,
}

/// How many requests the site was handling at once: now, and at most so far.
#[derive(Default)]
struct Concurrency {
    now: AtomicUsize,
    max: AtomicUsize,
}

/// Counts one request as in progress until dropped.
struct InProgress(Arc<Concurrency>);

impl InProgress {
    fn start(concurrency: &Arc<Concurrency>) -> InProgress {
        let now = concurrency.now.fetch_add(1, Ordering::SeqCst) + 1;
        concurrency.max.fetch_max(now, Ordering::SeqCst);
        InProgress(concurrency.clone())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Title of `/flaky.html` once it answers.
pub const FLAKY_TITLE: &str = "Eventually there";

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>\
         <style>body{{font-family:serif}}</style><script>var tracking = 'analytics';</script></head>\
         <body><nav><a href=\"/\">Home</a> <a href=\"/about.html\">About</a></nav>\
         <main><h1>{title}</h1>{body}</main><footer>Fixture encyclopedia footer</footer></body></html>"
    )
}

/// The paths of `n` generated pages.
pub fn generated_pages(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/gen/{i}.html")).collect()
}

fn generated_page(index: usize, total: usize) -> String {
    let (_, _, text) = TOPICS[index % TOPICS.len()];
    let mut links = String::from("<a href=\"/\">Home</a>");
    for child in [2 * index + 1, 2 * index + 2] {
        if child < total {
            links.push_str(&format!(" <a href=\"/gen/{child}.html\">Page {child}</a>"));
        }
    }
    layout(
        &format!("Generated page {index}"),
        &format!("<p>Entry number {index}. {text}</p><p>{links}</p>"),
    )
}

/// Every URL path the crawler should store (HTML, 200, allowed by robots.txt).
pub fn expected_pages() -> Vec<String> {
    let mut pages = vec![
        "/".to_string(),
        "/about.html".to_string(),
        "/topics/moved.html".to_string(),
        "/latin1.html".to_string(),
        "/cyrillic.html".to_string(),
    ];
    pages.extend(
        TOPICS
            .iter()
            .map(|(slug, _, _)| format!("/topics/{slug}.html")),
    );
    pages
}

fn topic_page(index: usize) -> String {
    let (_, title, text) = TOPICS[index];
    let next = TOPICS[(index + 1) % TOPICS.len()];
    let prev = TOPICS[(index + TOPICS.len() - 1) % TOPICS.len()];
    layout(
        title,
        &format!(
            "<p>{text}</p><h2>See also</h2><ul><li><a href=\"/topics/{}.html#top\">{}</a></li>\
             <li><a href=\"{}.html\">{}</a></li><li><a href=\"../index.html\">Index</a></li></ul>",
            next.0, next.1, prev.0, prev.1
        ),
    )
}

fn index_page(options: &FixtureOptions) -> String {
    let failing_pages = options.failing_pages;
    let mut links: String = TOPICS
        .iter()
        .map(|(slug, title, _)| format!("<li><a href=\"/topics/{slug}.html\">{title}</a></li>"))
        .collect();
    links.push_str(
        "<li><a href=\"/private/secret.html\">Staff only</a></li>\
         <li><a href=\"/old-page\">An old article</a></li>\
         <li><a href=\"/files/report.pdf\">Annual report (PDF)</a></li>\
         <li><a href=\"/latin1.html\">Desserts</a></li>\
         <li><a href=\"/cyrillic.html\">Cities</a></li>\
         <li><a href=\"mailto:editor@example.invalid\">Write to us</a></li>\
         <li><a href=\"/missing.html\">A broken link</a></li>\
         <li><a href=\"/drafts.html\">Drafts</a></li>",
    );
    if failing_pages {
        links.push_str("<li><a href=\"/flaky.html\">Flaky</a></li><li><a href=\"/broken.html\">Broken</a></li>");
    }
    if options.generated_pages > 0 {
        links.push_str("<li><a href=\"/gen/0.html\">Generated pages</a></li>");
    }
    if options.traps {
        links.push_str(
            "<li><a href=\"/calendar?day=0\">Calendar</a></li>\
             <li><a href=\"/loop/\">Loop</a></li>\
             <li><a href=\"/print/volcanoes.html\">Volcanoes (print)</a></li>\
             <li><a href=\"/busy.html\">Busy</a></li>",
        );
    }
    layout(
        "Fixture encyclopedia",
        &format!("<p>A small encyclopedia of nature, food and inventions.</p><ul>{links}</ul>"),
    )
}

/// FNV-1a, for ETags.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

async fn handle(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let path = uri.path().to_string();
    let logged = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.clone(),
    };
    state
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((Instant::now(), logged.clone()));
    let _in_progress = InProgress::start(&state.concurrency);
    if path != "/robots.txt" && !state.options.page_latency.is_zero() {
        tokio::time::sleep(state.options.page_latency).await;
    }
    let mut response = route(&state, &path, uri.query());
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if response.status() == StatusCode::OK && is_html {
        let changed = state
            .changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&path);
        let etag = format!("\"{:x}-{}\"", fnv(&logged), u8::from(changed));
        if headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == etag.as_bytes())
        {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
        }
        if let Ok(value) = etag.parse() {
            response.headers_mut().insert(header::ETAG, value);
        }
    }
    response
}

fn route(state: &AppState, path: &str, query: Option<&str>) -> Response {
    if let Some(index) = path
        .strip_prefix("/gen/")
        .and_then(|p| p.strip_suffix(".html"))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|i| *i < state.options.generated_pages)
    {
        return html(
            StatusCode::OK,
            generated_page(index, state.options.generated_pages),
        );
    }
    if state.options.traps
        && let Some(response) = trap(state, path, query)
    {
        return response;
    }
    match path {
        "/robots.txt" => {
            let mut robots = "User-agent: *\nDisallow: /private/\n".to_string();
            if let Some(delay) = state.options.crawl_delay {
                robots.push_str(&format!("Crawl-delay: {delay}\n"));
            }
            if state.options.traps {
                robots.push_str("Sitemap: /sitemaps/index.xml\n");
            }
            ([(header::CONTENT_TYPE, "text/plain")], robots).into_response()
        }
        "/" => html(StatusCode::OK, index_page(&state.options)),
        "/flaky.html" => {
            let attempts = state
                .log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|(_, p)| p == "/flaky.html")
                .count();
            if attempts <= 2 {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "0")],
                    "busy",
                )
                    .into_response()
            } else {
                html(
                    StatusCode::OK,
                    layout(FLAKY_TITLE, "<p>Third time lucky.</p>"),
                )
            }
        }
        "/broken.html" => (StatusCode::INTERNAL_SERVER_ERROR, "broken").into_response(),
        "/index.html" => (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "/")]).into_response(),
        "/about.html" => html(
            StatusCode::OK,
            layout(
                "About this encyclopedia",
                "<p>Written by volunteers who love facts.</p>",
            ),
        ),
        "/private/secret.html" => html(
            StatusCode::OK,
            layout("Secret", &format!("<p>The password is {SECRET_WORD}.</p>")),
        ),
        "/old-page" => (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, "/topics/moved.html")],
        )
            .into_response(),
        "/drafts.html" => (
            [
                (header::CONTENT_TYPE, "text/html"),
                (header::HeaderName::from_static("x-robots-tag"), "noindex"),
            ],
            layout("Drafts", "<p>Unfinished quasiunpublished notes.</p>"),
        )
            .into_response(),
        "/topics/moved.html" => html(
            StatusCode::OK,
            layout(
                MOVED_TITLE,
                "<p>This article was relocated from its old address.</p>",
            ),
        ),
        "/files/report.pdf" => (
            [(header::CONTENT_TYPE, "application/pdf")],
            b"%PDF-1.4 volcano report".to_vec(),
        )
            .into_response(),
        "/latin1.html" => {
            let page = "<!doctype html><html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\">\
                        <title>Crème brûlée</title></head><body><h1>Crème brûlée</h1>\
                        <p>A rich custard topped with caramelised sugar, served in a ramekin. Voilà!</p></body></html>";
            let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(page);
            ([(header::CONTENT_TYPE, "text/html")], bytes.into_owned()).into_response()
        }
        "/cyrillic.html" => {
            let page = "<!doctype html><html><head><title>Москва</title></head><body>\
                        <h1>Москва</h1><p>Москва — столица России, город на реке Москве.</p></body></html>";
            let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(page);
            (
                [(header::CONTENT_TYPE, "text/html; charset=windows-1251")],
                bytes.into_owned(),
            )
                .into_response()
        }
        other => {
            let slug = other
                .strip_prefix("/topics/")
                .and_then(|p| p.strip_suffix(".html"));
            match slug.and_then(|slug| TOPICS.iter().position(|(s, _, _)| *s == slug)) {
                Some(index) => html(StatusCode::OK, topic_page(index)),
                None => html(
                    StatusCode::NOT_FOUND,
                    layout("Not found", "<p>No such page.</p>"),
                ),
            }
        }
    }
}

/// The trap pages of [`FixtureOptions::traps`].
fn trap(state: &AppState, path: &str, query: Option<&str>) -> Option<Response> {
    let response = match path {
        "/calendar" => {
            let day: u64 = query
                .and_then(|q| q.strip_prefix("day="))
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            html(
                StatusCode::OK,
                layout(
                    &format!("Calendar day {day}"),
                    &format!(
                        "<p>Nothing happens.</p><a href=\"/calendar?day={}\">Next day</a>",
                        day + 1
                    ),
                ),
            )
        }
        "/sitemaps/index.xml" => (
            [(header::CONTENT_TYPE, "application/xml")],
            "<?xml version=\"1.0\"?><sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
             <sitemap><loc>/sitemaps/pages.xml</loc></sitemap>\
             <sitemap><loc>/sitemaps/index.xml</loc></sitemap></sitemapindex>",
        )
            .into_response(),
        "/sitemaps/pages.xml" => (
            [(header::CONTENT_TYPE, "application/xml")],
            "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
             <url><loc>/hidden.html</loc><lastmod>2026-11-01</lastmod></url>\
             <url><loc>/topics/tides.html?utm_source=sitemap</loc></url></urlset>",
        )
            .into_response(),
        "/hidden.html" => html(
            StatusCode::OK,
            layout("Hidden", "<p>Only the sitemap knows this page.</p>"),
        ),
        "/print/volcanoes.html" => html(
            StatusCode::OK,
            format!(
                "<!doctype html><html><head><title>Volcanoes (print)</title>\
                 <link rel=canonical href=\"/topics/volcanoes.html\"></head>\
                 <body><p>{}</p></body></html>",
                TOPICS[0].2
            ),
        ),
        "/busy.html" => {
            let attempts = state
                .log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|(_, p)| p == "/busy.html")
                .count();
            if attempts <= 1 {
                (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response()
            } else {
                html(StatusCode::OK, layout("Busy", "<p>Now there is time.</p>"))
            }
        }
        loop_path if loop_path.starts_with("/loop/") => html(
            StatusCode::OK,
            layout(
                "Loop",
                "<p>Deeper and deeper.</p><a href=\"again/\">again</a>",
            ),
        ),
        _ => return None,
    };
    Some(response)
}

impl FixtureSite {
    /// Starts the site on 127.0.0.1 (or `bind_ip`) with an ephemeral port, on its own
    /// runtime thread.
    pub fn start(options: FixtureOptions) -> FixtureSite {
        let log: RequestLog = Arc::default();
        let changed: Arc<Mutex<HashSet<String>>> = Arc::default();
        let bind_ip = options.bind_ip.unwrap_or(Ipv4Addr::LOCALHOST);
        let concurrency: Arc<Concurrency> = Arc::default();
        let state = AppState {
            log: log.clone(),
            concurrency: concurrency.clone(),
            options,
            changed: changed.clone(),
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("fixture runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind((bind_ip, 0))
                    .await
                    .expect("bind fixture site");
                addr_tx
                    .send(listener.local_addr().expect("fixture address"))
                    .expect("report address");
                let app = Router::new().fallback(handle).with_state(state);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = shutdown_rx.await;
                    })
                    .await;
            });
        });
        let addr = addr_rx.recv().expect("fixture site started");
        FixtureSite {
            addr,
            log,
            concurrency,
            changed,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The site's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.timed_requests()
            .into_iter()
            .map(|(_, path)| path)
            .collect()
    }

    /// Changes the page at `path`: from now on it has a new `ETag`, so a conditional
    /// refetch gets it again instead of 304.
    pub fn change(&self, path: &str) {
        self.changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_string());
    }

    /// The most requests the site was handling at the same time so far (a request counts
    /// from its arrival until its handler returns, which includes `page_latency`).
    pub fn max_concurrent_requests(&self) -> usize {
        self.concurrency.max.load(Ordering::SeqCst)
    }

    /// The requests so far (path and query) with their arrival times.
    pub fn timed_requests(&self) -> Vec<(Instant, String)> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for FixtureSite {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
