//! The fixture site: a few dozen real-looking pages with links, a robots.txt that
//! disallows `/private/`, a redirect, a PDF, pages in legacy charsets, and a request log.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
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
}

/// A running fixture site. Stops when dropped.
pub struct FixtureSite {
    addr: SocketAddr,
    log: RequestLog,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone)]
struct AppState {
    log: RequestLog,
    options: FixtureOptions,
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

fn index_page(failing_pages: bool) -> String {
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
    layout(
        "Fixture encyclopedia",
        &format!("<p>A small encyclopedia of nature, food and inventions.</p><ul>{links}</ul>"),
    )
}

async fn handle(State(state): State<AppState>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    state
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((Instant::now(), path.clone()));
    if path != "/robots.txt" && !state.options.page_latency.is_zero() {
        tokio::time::sleep(state.options.page_latency).await;
    }
    match path.as_str() {
        "/robots.txt" => {
            let mut robots = "User-agent: *\nDisallow: /private/\n".to_string();
            if let Some(delay) = state.options.crawl_delay {
                robots.push_str(&format!("Crawl-delay: {delay}\n"));
            }
            ([(header::CONTENT_TYPE, "text/plain")], robots).into_response()
        }
        "/" => html(StatusCode::OK, index_page(state.options.failing_pages)),
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

impl FixtureSite {
    /// Starts the site on 127.0.0.1 with an ephemeral port, on its own runtime thread.
    pub fn start(options: FixtureOptions) -> FixtureSite {
        let log: RequestLog = Arc::default();
        let state = AppState {
            log: log.clone(),
            options,
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
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
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

    /// The requests so far with their arrival times.
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
