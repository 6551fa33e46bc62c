//! The SSRF guard over real sockets: with private addresses refused (the default), no
//! spelling of a loopback or unspecified address — a DNS name that resolves to loopback,
//! IPv4-mapped IPv6, `0.0.0.0`, numeric IPv4 forms — opens a connection. A server on
//! 127.0.0.1 counts the connections it accepts; the control case shows it is reachable.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use quarry_crawler::fetch::{FetchError, PageResponse, build_fetcher};
use quarry_crawler::{CanonicalUrl, CrawlConfig};

/// A server on 127.0.0.1 answering every connection with a tiny page; returns its port
/// and the count of connections it accepted.
fn counting_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            );
        }
    });
    (port, accepted)
}

fn fetch(allow_private: bool, url: &str) -> Result<PageResponse, FetchError> {
    let config = CrawlConfig {
        allow_private_addresses: allow_private,
        ..CrawlConfig::default()
    };
    let fetcher = build_fetcher(&config).expect("fetcher");
    let url = CanonicalUrl::parse(url).unwrap_or_else(|| panic!("{url} parses"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async { fetcher.fetch_page(&url, None).await })
}

#[test]
fn loopback_in_any_spelling_is_refused_before_connecting() {
    let (port, accepted) = counting_server();
    for host in [
        "127.0.0.1",
        "localhost",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "[::1]",
        "[::]",
    ] {
        let url = format!("http://{host}:{port}/");
        match fetch(false, &url) {
            Err(FetchError::AddressRefused { address }) => {
                assert!(
                    !quarry_crawler::address::is_public(address),
                    "{url}: {address}"
                );
            }
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "a refused fetch connected"
    );

    // Control: allowed, the same server answers (so the refusals above were the guard).
    let allowed = fetch(true, &format!("http://127.0.0.1:{port}/")).expect("allowed");
    assert!(
        matches!(allowed, PageResponse::Html(ref page) if page.status == 200),
        "{allowed:?}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}
