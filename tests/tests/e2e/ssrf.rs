//! The SSRF guard in a whole crawl: an allowed host (127.0.0.1, let in by
//! `--allow-private-network 127.0.0.1/32` as an intranet would be) links and redirects to
//! every other kind of non-public address — another loopback address, IPv6 loopback,
//! IPv4-mapped IPv6, the cloud metadata address, a private network. (A DNS name resolving
//! to loopback is refused in crawler/tests/ssrf.rs.) With
//! `scope = "any"` the crawler follows all of them to the guard, which refuses each one
//! before connecting: the servers listening on those loopback addresses see no request,
//! every refusal is counted, and only the allowed host's pages are stored.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use quarry_crawler::CrawlStats;
use quarry_tests::binary::run_quarry;

/// A server answering every request from `answer(path)`, recording the paths it was asked.
struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(bind: &str, answer: impl Fn(&str) -> String + Send + 'static) -> Option<Server> {
        let listener = TcpListener::bind(bind).ok()?;
        let addr = listener.local_addr().ok()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                serve(stream, &seen, &answer);
            }
        });
        Some(Server { addr, requests })
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests").clone()
    }
}

/// Answers the requests of one keep-alive connection.
fn serve(stream: TcpStream, seen: &Mutex<Vec<String>>, answer: &dyn Fn(&str) -> String) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" || header == "\n" {
                break;
            }
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string();
        seen.lock().expect("requests").push(path.clone());
        if writer.write_all(answer(&path).as_bytes()).is_err() {
            return;
        }
    }
}

fn html(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn redirect(to: &str) -> String {
    format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n")
}

fn not_found() -> String {
    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string()
}

#[test]
fn an_allowed_host_cannot_lead_the_crawler_to_other_private_addresses() {
    // Decoys on the other loopback addresses: were the guard to let a fetch through,
    // they would see the request.
    let decoy = |_: &str| html("<title>decoy</title><p>must never be fetched</p>");
    let other_v4 = Server::start("127.0.0.2:0", decoy).expect("bind 127.0.0.2");
    let v6 = Server::start("[::1]:0", decoy);
    let v6_port = v6.as_ref().map_or(1, |server| server.addr.port());
    let private_port = other_v4.addr.port();

    let targets: Vec<(&str, String)> = vec![
        (
            "other-loopback",
            format!("http://127.0.0.2:{private_port}/r"),
        ),
        ("v6-loopback", format!("http://[::1]:{v6_port}/r")),
        (
            "mapped",
            format!("http://[::ffff:127.0.0.2]:{private_port}/r"),
        ),
        (
            "metadata",
            "http://169.254.169.254/latest/meta-data/".into(),
        ),
        ("private", "http://10.255.0.1/admin".into()),
    ];
    let allowed = {
        let targets = targets.clone();
        Server::start("127.0.0.1:0", move |path| {
            if path == "/" {
                let mut links = String::from("<a href=\"/ok\">ok</a>");
                for (name, _) in &targets {
                    links.push_str(&format!("<a href=\"/to/{name}\">{name}</a>"));
                }
                links.push_str(&format!(
                    "<a href=\"http://127.0.0.2:{private_port}/direct\">direct</a>"
                ));
                return html(&format!(
                    "<title>intranet home</title><p>allowed host</p>{links}"
                ));
            }
            if path == "/ok" {
                return html("<title>ok</title><p>an allowed page</p>");
            }
            match path
                .strip_prefix("/to/")
                .and_then(|name| targets.iter().find(|(known, _)| *known == name))
            {
                Some((_, to)) => redirect(to),
                None => not_found(),
            }
        })
        .expect("bind 127.0.0.1")
    };
    let dir = tempfile::tempdir().unwrap();
    let seeds = dir.path().join("seeds.txt");
    std::fs::write(&seeds, format!("http://{}/\n", allowed.addr)).unwrap();
    let config = dir.path().join("quarry.toml");
    std::fs::write(
        &config,
        "[crawl]\nscope = \"any\"\nmin_host_delay_ms = 0\nmin_ip_delay_ms = 0\n\
         connect_timeout_ms = 2000\nrequest_timeout_ms = 2000\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let output = run_quarry(&[
        "--config",
        config.to_str().unwrap(),
        "crawl",
        "--seeds",
        seeds.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--allow-private-network",
        "127.0.0.1/32",
        "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stats: CrawlStats = serde_json::from_slice(&output.stdout).expect("--json prints stats");

    assert_eq!(
        other_v4.requests(),
        Vec::<String>::new(),
        "127.0.0.2 was fetched"
    );
    if let Some(v6) = &v6 {
        assert_eq!(v6.requests(), Vec::<String>::new(), "::1 was fetched");
    }
    // The five redirect targets and the direct link.
    assert_eq!(stats.refused_addresses, 6, "{stats:?}");
    assert_eq!(stats.redirected, 5, "{stats:?}");
    assert_eq!(stats.stored, 2, "{stats:?}");
    let mut stored = super::stored_paths(&data);
    stored.sort();
    assert_eq!(stored, ["/", "/ok"]);
    // The allowed host itself was crawled normally.
    let asked = allowed.requests();
    assert!(asked.iter().any(|path| path == "/ok"), "{asked:?}");
}

#[test]
fn a_malformed_allowed_network_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = dir.path().join("seeds.txt");
    std::fs::write(&seeds, "http://127.0.0.1:9/\n").unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("quarry.toml");
    std::fs::write(
        &config,
        "[crawl]\nallowed_private_networks = [\"10.0.0.0/33\"]\n",
    )
    .unwrap();
    for args in [
        vec!["--config", config.to_str().unwrap(), "crawl"],
        vec!["crawl", "--allow-private-network", "intranet"],
    ] {
        let mut args = args;
        args.extend([
            "--seeds",
            seeds.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ]);
        let output = run_quarry(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("CIDR"), "{args:?}: {stderr}");
    }
    assert!(!data.exists(), "a refused command created the data dir");
}
