//! Conformance tests for `quarry_crawler::robots` against the shared case
//! file `shared/testdata/robots/robots_cases.json` (see its README): the
//! expectations of Google's `robots_test.cc` (run against the reference
//! `robots.cc`) and of the `texting_robots` crate's suite, plus property
//! tests that parsing and matching never panic.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use quarry_crawler::robots::{
    Robots, escape_pattern, is_valid_user_agent_to_obey, path_params_query,
};
use serde_json::Value;

/// A texting_robots case excused from one check: (test name, robots_id,
/// user-agent, url, reason).
type Exception = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

/// Rules written before any user-agent line: RFC 9309 and Google ignore
/// them (ID_LineSyntax_Groups); texting_robots applies them to every agent.
const NO_GROUP: &str = "rules before any user-agent line belong to no group; Google ignores them";
/// Google matches the URL as given, without percent-encoding it (ID_Encoding).
const RAW_URL: &str =
    "Google does not percent-encode the URL: raw UTF-8 never matches the %-escaped rule";

/// texting_robots `allowed` verdicts that differ from Google's behaviour.
const TEXTING_ALLOWED_EXCEPTIONS: &[Exception] = &[
    (
        "test::tests::test_google_encoding",
        "ecdc094db8fc",
        "FooBot",
        "http://foo.bar/foo/bar/ツ",
        RAW_URL,
    ),
    (
        "test::tests::test_google_encoding",
        "ecdc094db8fc",
        "FooBot",
        "/foo/bar/ツ",
        RAW_URL,
    ),
    (
        "test::tests::test_google_encoding",
        "1dd6d03e058f",
        "FooBot",
        "http://foo.bar/foo/bar/ツ",
        RAW_URL,
    ),
    (
        "test::tests::test_google_order_of_precedence",
        "49dab3744d84",
        "BobBot",
        "/page.htm",
        NO_GROUP,
    ),
    (
        "test::tests::test_google_order_of_precedence",
        "49dab3744d84",
        "BobBot",
        "http://example.com/page.htm",
        NO_GROUP,
    ),
    (
        "test::tests::test_google_order_of_precedence",
        "e4d3ed27c8b3",
        "BobBot",
        "http://example.com/page.htm",
        NO_GROUP,
    ),
    (
        "test::tests::test_reppy_no_leading_user_agent",
        "dc432952216f",
        "agent",
        "/path",
        NO_GROUP,
    ),
    (
        "test::tests::test_robot_many_star_rule_simplifier",
        "4b55a8509f42",
        "BobBot",
        "/x/y/",
        NO_GROUP,
    ),
    (
        "test::tests::test_robot_starts_with_wildcard",
        "56247ddf883a",
        "BobBot",
        "/",
        NO_GROUP,
    ),
    (
        "test::tests::test_robot_starts_with_wildcard",
        "56247ddf883a",
        "BobBot",
        "/a",
        NO_GROUP,
    ),
    (
        "test::tests::test_robot_starts_with_wildcard",
        "a91f6a95d68b",
        "BobBot",
        "bob/a/home.html",
        NO_GROUP,
    ),
    (
        "test::tests::test_robot_starts_with_wildcard",
        "a91f6a95d68b",
        "BobBot",
        "/gray",
        NO_GROUP,
    ),
    (
        "test_repcpp::tests::test_repcpp_no_leading_user_agent",
        "bc5e21dda2fe",
        "Agent",
        "https://example.com/path",
        NO_GROUP,
    ),
    (
        "doctest",
        "0b850d488720",
        "Ferris",
        "https://example.com/secret",
        NO_GROUP,
    ),
    ("doctest", "0b850d488720", "Ferris", "/secret", NO_GROUP),
    (
        "test::tests::test_robot_rfc_example",
        "ea0e76ed04e6",
        "unhipbot",
        "/robots.txt",
        "texting_robots always allows /robots.txt; Google applies the rules to it like any path",
    ),
    (
        "test::tests::test_robot_rfc_example",
        "ea0e76ed04e6",
        "anything",
        "/robots.txt",
        "texting_robots always allows /robots.txt; Google applies the rules to it like any path",
    ),
    (
        "tests::test_real_robot_against_reddit",
        "dffbe7b5a438",
        "008",
        "https://www.reddit.com/r/rust/",
        "Google cuts `User-agent: 008` to its [A-Za-z_-] prefix (empty): it names no agent",
    ),
];

/// Our crawl-delay policy: the agent's own groups, else the `*` groups.
const STAR_FALLBACK: &str = "Googlebot's group sets no crawl-delay, so ours falls back to the `*` group's 1 s; texting_robots does not";

/// texting_robots `crawl_delay` values that differ on purpose.
const TEXTING_CRAWL_DELAY_EXCEPTIONS: &[Exception] = &[
    (
        "tests::test_real_robot_against_twitter",
        "061aff6a0710",
        "GOOGLEBOT",
        "https://twitter.com/Smerity/following",
        STAR_FALLBACK,
    ),
    (
        "tests::test_real_robot_against_twitter",
        "061aff6a0710",
        "GOOGLEBOT",
        "https://twitter.com/halvarflake",
        STAR_FALLBACK,
    ),
    (
        "tests::test_real_robot_against_twitter",
        "061aff6a0710",
        "GOOGLEBOT",
        "https://twitter.com/search?q=%22Satoshi%20Nakamoto%22&src=trend_click",
        STAR_FALLBACK,
    ),
    (
        "tests::test_real_robot_against_twitter",
        "061aff6a0710",
        "GOOGLEBOT",
        "https://twitter.com/search?q=%23Satoshi&src=typed_query&f=top",
        STAR_FALLBACK,
    ),
];

/// texting_robots `sitemaps` that differ on purpose.
const TEXTING_SITEMAP_EXCEPTIONS: &[Exception] = &[(
    "test::tests::test_robot_crawl_evil_utf8",
    "a0d08c00969e",
    "A",
    "/bob/",
    "body stored as lossy text (the bytes A\\xc2\\xc3\\xb1B are lost); texting_robots drops a \
     non-UTF-8 Sitemap, we keep every Sitemap value (lossily decoded) as Google does",
)];

/// The parsed case file, or `None` when shared/testdata is absent.
fn data() -> Option<&'static Value> {
    static DATA: OnceLock<Option<Value>> = OnceLock::new();
    DATA.get_or_init(|| {
        let path = testdata_dir().join("robots_cases.json");
        let text = std::fs::read_to_string(&path).ok()?;
        Some(serde_json::from_str(&text).expect("robots_cases.json is valid JSON"))
    })
    .as_ref()
}

fn testdata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/robots")
}

/// Loads the data or explains why the test is skipped.
fn load() -> Option<&'static Value> {
    let d = data();
    if d.is_none() {
        println!(
            "skipping: ../shared/testdata not found ({} is missing)",
            testdata_dir().join("robots_cases.json").display()
        );
    }
    d
}

fn cases<'a>(d: &'a Value, source: &str, kind: &str) -> Vec<&'a Value> {
    d["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .filter(|c| c["source"] == source && c["kind"] == kind)
        .collect()
}

fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("string field {field} in {v}"))
}

/// The exact bytes of a robots.txt body.
fn body(d: &Value, id: &str) -> Vec<u8> {
    let b = &d["robots_bodies"][id];
    match b.get("base64").and_then(Value::as_str) {
        Some(b64) => base64_decode(b64),
        None => s(b, "text").as_bytes().to_vec(),
    }
}

fn base64_decode(input: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 byte {c}"),
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in input
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
    {
        acc = (acc << 6) | u32::from(value(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

type CaseKey = (String, String, String, String);

fn case_key(c: &Value) -> CaseKey {
    (
        s(c, "test").to_owned(),
        s(c, "robots_id").to_owned(),
        s(c, "useragent").to_owned(),
        s(c, "url").to_owned(),
    )
}

fn exception_keys(list: &[Exception]) -> HashSet<CaseKey> {
    let keys: HashSet<CaseKey> = list
        .iter()
        .map(|(t, id, a, u, _)| (t.to_string(), id.to_string(), a.to_string(), u.to_string()))
        .collect();
    assert_eq!(keys.len(), list.len(), "duplicate allow-list entries");
    keys
}

/// Fails listing every mismatch, after printing the pass count.
fn report(label: &str, total: usize, failures: &[String]) {
    println!("{label}: {} / {total} passed", total - failures.len());
    assert!(
        failures.is_empty(),
        "{label}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn google_allowed() {
    let Some(d) = load() else { return };
    let cases = cases(d, "google/robotstxt", "allowed");
    assert_eq!(cases.len(), 145);
    let mut failures = Vec::new();
    for c in &cases {
        let robots = Robots::parse(&body(d, s(c, "robots_id")));
        let got = robots.is_allowed(s(c, "useragent"), s(c, "url"));
        if got != c["expected_allowed"] {
            failures.push(format!("{c}: got {got}"));
        }
    }
    report("google allowed", cases.len(), &failures);
}

#[test]
fn google_path_params_query() {
    let Some(d) = load() else { return };
    let cases = cases(d, "google/robotstxt", "path_params_query");
    assert_eq!(cases.len(), 19);
    let mut failures = Vec::new();
    for c in &cases {
        let got = path_params_query(s(c, "url"));
        if got != s(c, "expected") {
            failures.push(format!("{c}: got {got:?}"));
        }
    }
    report("google path_params_query", cases.len(), &failures);
}

#[test]
fn google_escape_pattern() {
    let Some(d) = load() else { return };
    let cases = cases(d, "google/robotstxt", "escape_pattern");
    assert_eq!(cases.len(), 4);
    let mut failures = Vec::new();
    for c in &cases {
        let got = escape_pattern(s(c, "pattern"));
        if got != s(c, "expected") {
            failures.push(format!("{c}: got {got:?}"));
        }
    }
    report("google escape_pattern", cases.len(), &failures);
}

#[test]
fn google_valid_useragent_to_obey() {
    let Some(d) = load() else { return };
    let cases = cases(d, "google/robotstxt", "valid_useragent_to_obey");
    assert_eq!(cases.len(), 9);
    let mut failures = Vec::new();
    for c in &cases {
        let got = is_valid_user_agent_to_obey(s(c, "useragent"));
        if got != c["expected"] {
            failures.push(format!("{c}: got {got}"));
        }
    }
    report("google valid_useragent_to_obey", cases.len(), &failures);
}

#[test]
fn google_parse_stats() {
    let Some(d) = load() else { return };
    let cases = cases(d, "google/robotstxt", "parse_stats");
    assert_eq!(cases.len(), 12);
    let mut failures = Vec::new();
    for c in &cases {
        let robots = Robots::parse(&body(d, s(c, "robots_id")));
        let st = robots.stats();
        let got = (
            st.valid_directives,
            st.unknown_directives,
            st.last_line_seen,
            // Google's test reporter concatenates the Sitemap values.
            robots.sitemaps().concat(),
        );
        let want = (
            c["valid_directives"].as_u64().map(|n| n as usize),
            c["unknown_directives"].as_u64().map(|n| n as usize),
            c["last_line_seen"].as_u64().map(|n| n as usize),
            s(c, "sitemap").to_owned(),
        );
        if (Some(got.0), Some(got.1), Some(got.2), got.3.clone()) != want {
            failures.push(format!("{c}: got {got:?}"));
        }
    }
    report("google parse_stats", cases.len(), &failures);
}

/// File in real_sites/ for a texting_robots integration test, if any.
fn real_site_file(test: &str) -> Option<String> {
    let site = test.strip_prefix("tests::test_real_robot_against_")?;
    match site {
        "aviation_safety" => Some("aviation-safety.net.robots.txt".to_owned()),
        // The Hacker News body is inline in the test, not a saved file.
        "hn_robots" => None,
        other => Some(format!("{other}.robots.txt")),
    }
}

/// Body for a texting_robots case; the real-site cases read real_sites/.
fn texting_body(d: &Value, c: &Value) -> Vec<u8> {
    let inline = body(d, s(c, "robots_id"));
    match real_site_file(s(c, "test")) {
        Some(file) => {
            let path = testdata_dir().join("real_sites").join(&file);
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            assert_eq!(
                bytes, inline,
                "{file} differs from robots body {}",
                c["robots_id"]
            );
            bytes
        }
        None => inline,
    }
}

#[test]
fn texting_robots_allowed() {
    let Some(d) = load() else { return };
    let cases = cases(d, "texting_robots", "allowed");
    assert_eq!(cases.len(), 310);
    let real = cases
        .iter()
        .filter(|c| s(c, "test").starts_with("tests::"))
        .count();
    assert_eq!(real, 52);
    let excused = exception_keys(TEXTING_ALLOWED_EXCEPTIONS);
    let (mut failures, mut excused_hits) = (Vec::new(), HashSet::new());
    let mut parsed: BTreeMap<String, Robots> = BTreeMap::new();
    for c in &cases {
        let robots = parsed
            .entry(s(c, "robots_id").to_owned())
            .or_insert_with(|| Robots::parse(&texting_body(d, c)));
        let got = robots.is_allowed(s(c, "useragent"), s(c, "url"));
        let key = case_key(c);
        if got != c["expected_allowed"] {
            if excused.contains(&key) {
                excused_hits.insert(key);
            } else {
                failures.push(format!("{key:?} {c}: got {got}"));
            }
        } else if excused.contains(&key) {
            failures.push(format!("{key:?}: allow-listed but now passes; remove it"));
        }
    }
    println!(
        "texting_robots allowed: {} / {} agree with texting_robots, {} allow-listed (Google \
         differs), {} failed",
        cases.len() - excused_hits.len() - failures.len(),
        cases.len(),
        excused_hits.len(),
        failures.len()
    );
    for key in excused.difference(&excused_hits) {
        failures.push(format!("{key:?}: allow-listed but matches no failing case"));
    }
    report(
        "texting_robots allowed (incl. allow-listed)",
        cases.len(),
        &failures,
    );
}

#[test]
fn texting_robots_crawl_delay_and_sitemaps() {
    let Some(d) = load() else { return };
    let cases = cases(d, "texting_robots", "allowed");
    let delay_excused = exception_keys(TEXTING_CRAWL_DELAY_EXCEPTIONS);
    let sitemap_excused = exception_keys(TEXTING_SITEMAP_EXCEPTIONS);
    let mut failures = Vec::new();
    let (mut delay_checked, mut delay_excused_hits, mut delay_failed) = (0, 0, 0);
    let (mut sitemap_checked, mut sitemap_excused_hits, mut sitemap_failed) = (0, 0, 0);
    for c in &cases {
        let robots = Robots::parse(&texting_body(d, c));
        let key = case_key(c);
        if let Some(want) = c.get("crawl_delay") {
            delay_checked += 1;
            // texting_robots 0.2.2 keeps the delay as an f32 (5.2 -> 5.19999…).
            let want = want.as_f64().map(|w| w as f32);
            let got = robots
                .crawl_delay(s(c, "useragent"))
                .map(|d| d.as_secs_f64() as f32);
            if got != want {
                if delay_excused.contains(&key) {
                    delay_excused_hits += 1;
                } else {
                    delay_failed += 1;
                    failures.push(format!("crawl_delay {key:?}: got {got:?}, want {want:?}"));
                }
            } else if delay_excused.contains(&key) {
                failures.push(format!("crawl_delay {key:?}: allow-listed but passes"));
            }
        }
        if let Some(want) = c.get("sitemaps").and_then(Value::as_array) {
            sitemap_checked += 1;
            let want: Vec<&str> = want.iter().filter_map(Value::as_str).collect();
            let got = robots.sitemaps();
            if got != want.as_slice() {
                if sitemap_excused.contains(&key) {
                    sitemap_excused_hits += 1;
                } else {
                    sitemap_failed += 1;
                    failures.push(format!("sitemaps {key:?}: got {got:?}, want {want:?}"));
                }
            } else if sitemap_excused.contains(&key) {
                failures.push(format!("sitemaps {key:?}: allow-listed but passes"));
            }
        }
    }
    println!(
        "texting_robots crawl_delay: {} / {delay_checked} agree, {delay_excused_hits} allow-listed, \
         {delay_failed} failed",
        delay_checked - delay_excused_hits - delay_failed
    );
    println!(
        "texting_robots sitemaps: {} / {sitemap_checked} agree, {sitemap_excused_hits} allow-listed, \
         {sitemap_failed} failed",
        sitemap_checked - sitemap_excused_hits - sitemap_failed
    );
    if delay_excused_hits != delay_excused.len() || sitemap_excused_hits != sitemap_excused.len() {
        failures.push("an allow-list entry matches no failing case".to_owned());
    }
    report(
        "texting_robots crawl_delay+sitemaps",
        delay_checked + sitemap_checked,
        &failures,
    );
}

/// Lines built from robots.txt-ish fragments, to reach deeper parser states
/// than uniformly random bytes do.
fn robots_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"User-agent: ".to_vec()),
        Just(b"user agent ".to_vec()),
        Just(b"Disallow: ".to_vec()),
        Just(b"Allow: ".to_vec()),
        Just(b"Crawl-delay: ".to_vec()),
        Just(b"Sitemap: ".to_vec()),
        Just(b"*".to_vec()),
        Just(b"$".to_vec()),
        Just(b"/index.html".to_vec()),
        Just(b"%a".to_vec()),
        Just(b"#".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(vec![0xEF, 0xBB, 0xBF]),
        Just(vec![0]),
        proptest::collection::vec(any::<u8>(), 0..8),
        "[a-zA-Z/._-]{0,6}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Parsing and matching robots.txt-like bytes never panics, and the parse statistics add up.
fn check_robots_like(body: &[u8], agent: &str, url: &str) -> Result<(), TestCaseError> {
    let robots = Robots::parse(body);
    let _ = robots.is_allowed(agent, url);
    let _ = robots.crawl_delay(agent);
    let _ = robots.sitemaps();
    let st = robots.stats();
    prop_assert!(st.valid_directives + st.unknown_directives <= st.last_line_seen);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1_000_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The long run: `cargo test -p quarry-crawler --test robots_conformance long_ -- --ignored`.
    #[test]
    #[ignore = "long fuzz run (a million cases)"]
    fn long_parse_and_match_robots_like_never_panic(
        body in robots_like(),
        agent in "[a-zA-Z*_ -]{0,10}",
        url in "(https?://[a-z.]{0,8})?[/?;#a-z*$%.]{0,40}",
    ) {
        check_robots_like(&body, &agent, &url)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // 100,000 cases each (issue: fuzz robots.txt in CI-sized form); `long_` runs a million.
        cases: 100_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn parse_and_match_arbitrary_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        agent in ".{0,16}",
        url in ".{0,64}",
    ) {
        let robots = Robots::parse(&body);
        let _ = robots.is_allowed(&agent, &url);
        let _ = robots.crawl_delay(&agent);
        let st = robots.stats();
        prop_assert!(st.valid_directives + st.unknown_directives <= st.last_line_seen);
    }

    #[test]
    fn parse_and_match_robots_like_never_panic(
        body in robots_like(),
        agent in "[a-zA-Z*_ -]{0,10}",
        url in "(https?://[a-z.]{0,8})?[/?;#a-z*$%.]{0,40}",
    ) {
        check_robots_like(&body, &agent, &url)?;
    }

    #[test]
    fn path_params_query_never_panics(url in any::<String>()) {
        let p = path_params_query(&url);
        prop_assert!(p.starts_with('/'));
    }

    #[test]
    fn escape_pattern_is_ascii(pattern in any::<String>()) {
        prop_assert!(escape_pattern(&pattern).is_ascii());
    }
}

#[test]
fn long_lines_and_many_wildcards_stay_fast() {
    let mut body = b"User-agent: *\nDisallow: /".to_vec();
    body.extend(std::iter::repeat_n(b'*', 100_000));
    body.extend(b"x$\n");
    let robots = Robots::parse(&body);
    let url = format!("http://a.b/{}", "y".repeat(5000));
    // The line is cut at 16,663 bytes, so "x$" is lost and "/***…" matches.
    assert!(!robots.is_allowed("Bot", &url));
}

/// A deliberately literal, streaming port of Google's `RobotsTxtParser` and
/// `RobotsMatcher` (one pass per query, handler state flags, no group
/// structure), used as an oracle for the grouped implementation.
mod streaming_reference {
    use quarry_crawler::robots::{escape_pattern, path_params_query};

    #[derive(Default)]
    struct Matcher<'a> {
        agent: &'a str,
        path: Vec<u8>,
        allow: (i64, i64),
        disallow: (i64, i64),
        seen_global: bool,
        seen_specific: bool,
        ever_seen_specific: bool,
        seen_separator: bool,
    }

    fn is_space(c: u8) -> bool {
        matches!(c, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
    }

    fn strip(mut s: &[u8]) -> &[u8] {
        while let [first, rest @ ..] = s {
            if !is_space(*first) {
                break;
            }
            s = rest;
        }
        while let [rest @ .., last] = s {
            if !is_space(*last) {
                break;
            }
            s = rest;
        }
        s
    }

    fn starts_ci(s: &[u8], p: &str) -> bool {
        s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    }

    fn google_matches(path: &[u8], pattern: &[u8]) -> bool {
        let pathlen = path.len();
        let mut pos = vec![0usize; pathlen + 1];
        let mut numpos = 1;
        for (i, &pat) in pattern.iter().enumerate() {
            if pat == b'$' && i + 1 == pattern.len() {
                return pos[numpos - 1] == pathlen;
            }
            if pat == b'*' {
                numpos = pathlen - pos[0] + 1;
                for j in 1..numpos {
                    pos[j] = pos[j - 1] + 1;
                }
            } else {
                let mut newnumpos = 0;
                for j in 0..numpos {
                    if pos[j] < pathlen && path[pos[j]] == pat {
                        pos[newnumpos] = pos[j] + 1;
                        newnumpos += 1;
                    }
                }
                numpos = newnumpos;
                if numpos == 0 {
                    return false;
                }
            }
        }
        true
    }

    impl Matcher<'_> {
        fn user_agent(&mut self, ua: &[u8]) {
            if self.seen_separator {
                self.seen_specific = false;
                self.seen_global = false;
                self.seen_separator = false;
            }
            if !ua.is_empty() && ua[0] == b'*' && (ua.len() == 1 || is_space(ua[1])) {
                self.seen_global = true;
            } else {
                let end = ua
                    .iter()
                    .position(|c| !(c.is_ascii_alphabetic() || *c == b'-' || *c == b'_'))
                    .unwrap_or(ua.len());
                if ua[..end].eq_ignore_ascii_case(self.agent.as_bytes()) {
                    self.ever_seen_specific = true;
                    self.seen_specific = true;
                }
            }
        }

        fn rule(&mut self, allow: bool, value: &str) {
            if !(self.seen_global || self.seen_specific) {
                return;
            }
            self.seen_separator = true;
            if google_matches(&self.path, value.as_bytes()) {
                let priority = value.len() as i64;
                let slot = if allow {
                    &mut self.allow
                } else {
                    &mut self.disallow
                };
                let best = if self.seen_specific {
                    &mut slot.0
                } else {
                    &mut slot.1
                };
                if *best < priority {
                    *best = priority;
                }
            } else if allow
                && let Some(slash) = value.rfind('/')
                && value[slash..].starts_with("/index.htm")
            {
                self.rule(true, &format!("{}$", &value[..=slash]));
            }
        }

        fn line(&mut self, line: &[u8]) {
            let line = &line[..line.iter().position(|&c| c == 0).unwrap_or(line.len())];
            let line = &line[..line.iter().position(|&c| c == b'#').unwrap_or(line.len())];
            let line = strip(line);
            let sep = match line.iter().position(|&c| c == b':') {
                Some(p) => p,
                None => {
                    let Some(p) = line.iter().position(|&c| c == b' ' || c == b'\t') else {
                        return;
                    };
                    let val = &line[p..];
                    let val = &val[val.iter().take_while(|&&c| c == b' ' || c == b'\t').count()..];
                    if val.iter().any(|&c| c == b' ' || c == b'\t') {
                        return;
                    }
                    p
                }
            };
            let key = strip(&line[..sep]);
            if key.is_empty() {
                return;
            }
            let value = strip(&line[sep + 1..]);
            let escaped = || {
                // MaybeEscapePattern on bytes: go through the str version
                // when possible, else escape the high bytes by hand.
                match std::str::from_utf8(value) {
                    Ok(v) => escape_pattern(v),
                    Err(_) => {
                        let mut out = String::new();
                        let mut i = 0;
                        while i < value.len() {
                            let c = value[i];
                            let hex = |j: usize| value.get(j).is_some_and(u8::is_ascii_hexdigit);
                            if c == b'%' && hex(i + 1) && hex(i + 2) {
                                out.push('%');
                                out.push(value[i + 1].to_ascii_uppercase() as char);
                                out.push(value[i + 2].to_ascii_uppercase() as char);
                                i += 3;
                                continue;
                            }
                            if c >= 0x80 {
                                out.push_str(&format!("%{c:02X}"));
                            } else {
                                out.push(c as char);
                            }
                            i += 1;
                        }
                        out
                    }
                }
            };
            if ["user-agent", "useragent", "user agent"]
                .iter()
                .any(|p| starts_ci(key, p))
            {
                self.user_agent(value);
            } else if starts_ci(key, "allow") {
                self.rule(true, &escaped());
            } else if [
                "disallow",
                "dissallow",
                "dissalow",
                "disalow",
                "diasllow",
                "disallaw",
            ]
            .iter()
            .any(|p| starts_ci(key, p))
            {
                self.rule(false, &escaped());
            }
        }
    }

    /// `RobotsMatcher::OneAgentAllowedByRobots`.
    pub fn allowed(body: &[u8], agent: &str, url: &str) -> bool {
        let mut m = Matcher {
            agent,
            path: path_params_query(url).into_bytes(),
            allow: (-1, -1),
            disallow: (-1, -1),
            ..Matcher::default()
        };
        const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
        let mut bom_pos = 0;
        let mut buf: Vec<u8> = Vec::new();
        let mut last_cr = false;
        for &ch in body {
            if bom_pos < 3 {
                bom_pos += 1;
                if ch == BOM[bom_pos - 1] {
                    continue;
                }
            }
            bom_pos = 3;
            if ch != b'\n' && ch != b'\r' {
                if buf.len() < 2083 * 8 - 1 {
                    buf.push(ch);
                }
            } else {
                if !(buf.is_empty() && last_cr && ch == b'\n') {
                    m.line(&buf);
                }
                buf.clear();
                last_cr = ch == b'\r';
            }
        }
        m.line(&buf);

        let (allow_s, allow_g) = m.allow;
        let (disallow_s, disallow_g) = m.disallow;
        let disallow = if allow_s > 0 || disallow_s > 0 {
            disallow_s > allow_s
        } else if m.ever_seen_specific {
            false
        } else if allow_g > 0 || disallow_g > 0 {
            disallow_g > allow_g
        } else {
            false
        };
        !disallow
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 100_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn grouped_matcher_agrees_with_streaming_reference(
        body in grouped_robots(),
        agent in prop_oneof![Just("FooBot"), Just("foobot"), Just("BarBot"), Just(""), Just("Foo Bar")],
        url in prop_oneof![
            "(http://h)?/[ab/x$*%?]{0,8}(index.html?)?",
            "/(a/)?(index.html)?",
        ],
    ) {
        let robots = Robots::parse(&body);
        prop_assert_eq!(
            robots.is_allowed(agent, &url),
            streaming_reference::allowed(&body, agent, &url),
            "body {:?}", String::from_utf8_lossy(&body)
        );
    }
}

/// Whole robots.txt lines mixing groups, rules, blank, unknown and sitemap lines.
fn grouped_robots() -> impl Strategy<Value = Vec<u8>> {
    let agent = prop_oneof![
        3 => Just("*"),
        1 => Just("* x"),
        1 => Just("*x"),
        3 => Just("FooBot"),
        1 => Just("FOOBOT/1.0"),
        2 => Just("BarBot"),
        1 => Just("Foo Bar"),
        1 => Just(""),
        1 => Just("008"),
    ];
    let rule_key = prop_oneof![Just("Allow:"), Just("disallow"), Just("Dissallow :")];
    let other_key = prop_oneof![Just("Sitemap:"), Just("foo:"), Just("useragent")];
    let path = prop_oneof![
        3 => "/[ab/x$*]{0,4}(index.html?)?",
        2 => "/(a/)?index.html?",
        1 => "[ab/x.$*%]{0,5}",
    ];
    let line = prop_oneof![
        4 => agent.prop_map(|a| format!("User-agent: {a}")),
        5 => (rule_key, path.clone(), "( #c)?").prop_map(|(k, v, c)| format!("{k} {v}{c}")),
        1 => "[0-9]{1,2}(\\.[0-9])?".prop_map(|v| format!("Crawl-delay: {v}")),
        1 => (other_key, path).prop_map(|(k, v)| format!("{k} {v}")),
        1 => Just(String::new()),
        1 => Just("# comment".to_owned()),
    ];
    let eol = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
    proptest::collection::vec((line, eol), 0..14).prop_map(|lines| {
        lines
            .into_iter()
            .flat_map(|(l, e)| [l, e.to_owned()])
            .collect::<String>()
            .into_bytes()
    })
}
