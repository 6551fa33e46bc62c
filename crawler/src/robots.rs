//! robots.txt parsing and matching, following RFC 9309 and Google's
//! reference implementation (`google/robotstxt`, `robots.cc`, Apache-2.0).
//!
//! # Policy
//!
//! The behaviour is a faithful port of Google's parser and
//! `RobotsMatcher::OneAgentAllowedByRobots`, restructured so that a file is
//! parsed once ([`Robots::parse`]) and queried many times:
//!
//! * **Lines.** The body is split on CR, LF and CRLF. A leading UTF-8 byte
//!   order mark (or any prefix of one) is skipped. Lines longer than
//!   16,663 bytes (Google's 2083 × 8 buffer less its terminator) are
//!   truncated; a NUL byte ends a line, as in Google's C-string handling.
//!   Invalid UTF-8 is fine: everything works on bytes.
//! * **Syntax.** `#` starts a comment. A line is `key: value`; when the colon
//!   is missing, `key value` (exactly two whitespace-separated words) is
//!   accepted too. Keys are matched case-insensitively *by prefix*, with the
//!   typos Google accepts: `user-agent`/`useragent`/`user agent`, `allow`,
//!   `disallow`/`dissallow`/`dissalow`/`disalow`/`diasllow`/`disallaw`,
//!   `sitemap`/`site-map`. Allow/disallow values are percent-normalised by
//!   [`escape_pattern`].
//! * **Groups.** One or more `user-agent` lines followed by rules form a
//!   group; a `user-agent` line after a rule starts a new group. Sitemap and
//!   unknown lines (including `crawl-delay`) do not close a group. Rules
//!   before the first `user-agent` line are ignored. A robots.txt
//!   `user-agent` value is reduced to its product token (the leading
//!   `[A-Za-z_-]` characters, so `Foo Bar` and `Foo/1.2` both mean `Foo`);
//!   `*` (optionally followed by whitespace) is the global agent.
//! * **Agent selection.** The caller's `user_agent` is compared,
//!   ASCII-case-insensitively, with those product tokens, exactly as Google
//!   does. Pass your crawler's *product token* (e.g. `QuarryBot`): a string
//!   such as `"QuarryBot/1.0"` or `"Foo Bar"` never equals a token and so
//!   only ever gets the `*` rules (this is Google's
//!   `GoogleOnly_AcceptUserAgentUpToFirstSpace` behaviour). All groups naming
//!   the agent are merged. If any group names it, the `*` groups are ignored
//!   for allow/disallow, even when the named groups have no rules.
//! * **Matching.** The URL is reduced to path, params and query
//!   ([`path_params_query`]) and compared byte-for-byte, without decoding,
//!   against each pattern, anchored at the start; `*` matches any run of
//!   bytes and a trailing `$` anchors the end. The longest matching pattern
//!   wins and `allow` wins ties. An empty `disallow` matches with priority 0,
//!   which never disallows. Google-only: an `allow` ending in `/index.htm*`
//!   also allows the bare directory (`/dir/` with `$`).
//! * **Extensions outside Google's matcher.** `crawl-delay` (keys starting
//!   with `crawl-delay`, `crawldelay` or `crawl delay`; decimal seconds) is
//!   not part of Google's matcher, which counts it as an unknown directive in
//!   [`ParseStats`]. Like a rule, it applies to the user-agent lines seen
//!   before it in its group; [`Robots::crawl_delay`] takes the agent's value,
//!   else the `*` value, else one written before any group. `Sitemap` values
//!   are collected from anywhere in the file (decoded lossily if not UTF-8).
//! * **Cost.** Parsing is linear in the body. A query checks the rules of the
//!   groups naming the agent and of the `*` groups, each in
//!   O(len(path) × len(pattern)) whatever the wildcards.
//!
//! The crawler maps HTTP outcomes onto [`Robots::allow_all`] (4xx) and
//! [`Robots::disallow_all`] (5xx or unreachable) itself.

use std::time::Duration;

/// Google's `kMaxLineLen` (2083 × 8); one byte of it is the C terminator.
const MAX_LINE_LEN: usize = 2083 * 8;
/// The UTF-8 byte order mark.
const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
/// Hex digits used by [`escape_pattern`].
const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// Parsed robots.txt: all groups, sitemaps and stats.
#[derive(Debug, Clone, Default)]
pub struct Robots {
    groups: Vec<Group>,
    /// First valid crawl-delay before any user-agent line.
    file_crawl_delay: Option<Duration>,
    sitemaps: Vec<String>,
    stats: ParseStats,
}

/// Parse statistics as Google's parser reports them (the counters of the
/// `RobotsStatsReporter` in Google's `robots_test.cc`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Number of `user-agent`, `allow`, `disallow` and `sitemap` lines.
    pub valid_directives: usize,
    /// Number of other `key: value` lines (including `crawl-delay`).
    pub unknown_directives: usize,
    /// Line number (1-based) of the last line that held any directive; 0 if none.
    pub last_line_seen: usize,
}

/// One group: its user-agent lines and the rules that follow them.
#[derive(Debug, Clone, Default)]
struct Group {
    /// A `*` user-agent line is part of the group.
    global: bool,
    /// Product tokens of the other user-agent lines (may be empty strings).
    agents: Vec<String>,
    /// Allow / disallow rules in file order.
    rules: Vec<Rule>,
    /// Valid crawl-delays in file order.
    crawl_delays: Vec<CrawlDelay>,
}

impl Group {
    /// Whether the group names `user_agent` (not counting `*`).
    fn names(&self, user_agent: &str) -> bool {
        names(&self.agents, user_agent)
    }
}

/// A crawl-delay line, with the group's user-agent lines seen before it.
///
/// Like Google's handlers, a line applies to the agents seen so far, so in
/// `User-agent: *` / `Crawl-delay: 9` / `User-agent: Foo` / `Crawl-delay: 1`
/// (one group, as no rule separates them) `Foo` gets 1 and others 9.
#[derive(Debug, Clone)]
struct CrawlDelay {
    /// How many of the group's `agents` precede the line.
    agents_before: usize,
    /// Whether a `*` line precedes it.
    global_before: bool,
    delay: Duration,
}

/// An allow or disallow rule with its escaped pattern.
#[derive(Debug, Clone)]
struct Rule {
    allow: bool,
    /// Percent-normalised pattern (ASCII only).
    pattern: String,
    /// For `allow` patterns ending in `/index.htm…`: the directory pattern
    /// (`…/$`) Google tries when the pattern itself does not match.
    index_dir: Option<String>,
}

/// The kinds of keys Google's parser recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    UserAgent,
    Allow,
    Disallow,
    Sitemap,
    Unknown,
}

/// Best allow / disallow match priorities for one set of groups.
/// `None` is Google's "no match" (-1); `Some(n)` a match of a pattern of length n.
#[derive(Debug, Default, Clone, Copy)]
struct Verdict {
    allow: Option<usize>,
    disallow: Option<usize>,
}

impl Verdict {
    /// Whether any non-empty pattern matched.
    fn decided(&self) -> bool {
        self.allow.is_some_and(|p| p > 0) || self.disallow.is_some_and(|p| p > 0)
    }

    /// Disallowed when the longest disallow beats the longest allow.
    fn disallowed(&self) -> bool {
        self.disallow > self.allow
    }
}

impl Robots {
    /// Parses a robots.txt body. Never panics, whatever the bytes (invalid
    /// UTF-8, BOM, CR / LF / CRLF line ends, lines over Google's 16,664-byte
    /// limit truncated like Google does).
    pub fn parse(body: &[u8]) -> Robots {
        let mut robots = Robots::default();
        // Google skips any prefix of a UTF-8 BOM at the very start.
        let bom_len = body
            .iter()
            .zip(UTF8_BOM.iter())
            .take_while(|(a, b)| a == b)
            .count();
        let body = body.get(bom_len..).unwrap_or_default();

        let mut line_num = 0;
        let mut start = 0;
        let mut last_was_cr = false;
        for (i, &ch) in body.iter().enumerate() {
            if ch != b'\n' && ch != b'\r' {
                continue;
            }
            let line = body.get(start..i).unwrap_or_default();
            // The LF of a CRLF pair does not end another (empty) line.
            let crlf_continuation = line.is_empty() && last_was_cr && ch == b'\n';
            if !crlf_continuation {
                line_num += 1;
                robots.parse_line(line_num, line);
            }
            start = i + 1;
            last_was_cr = ch == b'\r';
        }
        line_num += 1;
        robots.parse_line(line_num, body.get(start..).unwrap_or_default());
        robots
    }

    /// Everything allowed (used for 4xx robots.txt responses).
    pub fn allow_all() -> Robots {
        Robots::default()
    }

    /// Everything disallowed (used for 5xx / unreachable robots.txt).
    pub fn disallow_all() -> Robots {
        // Every path starts with '/', so `Disallow: /` for `*` matches all.
        Robots {
            groups: vec![Group {
                global: true,
                rules: vec![Rule {
                    allow: false,
                    pattern: "/".to_owned(),
                    index_dir: None,
                }],
                ..Group::default()
            }],
            ..Robots::default()
        }
    }

    /// Whether `user_agent` may fetch `url`, which is an absolute URL
    /// string (e.g. `"http://foo.bar/x/y?q=1#frag"`); only its
    /// path+params+query is used, as Google's `GetPathParamsQuery` does.
    ///
    /// `user_agent` should be the crawler's product token (e.g. `QuarryBot`).
    /// It is compared case-insensitively with each robots.txt `user-agent`
    /// value cut to its product token (up to the first character outside
    /// `[A-Za-z_-]`, so `User-agent: QuarryBot/2.0` names `QuarryBot`). As in
    /// Google's matcher the caller's string itself is not cut: a full UA
    /// string such as `"QuarryBot/1.0 (+https://…)"` only matches `*` groups.
    pub fn is_allowed(&self, user_agent: &str, url: &str) -> bool {
        let path = path_params_query(url);
        let path = path.as_bytes();
        let mut scratch = Vec::new();
        let mut specific = Verdict::default();
        let mut global = Verdict::default();
        let mut ever_seen_specific = false;

        for group in &self.groups {
            let verdict = if group.names(user_agent) {
                ever_seen_specific = true;
                &mut specific
            } else if group.global {
                &mut global
            } else {
                continue;
            };
            for rule in &group.rules {
                let mut priority = matches(path, rule.pattern.as_bytes(), &mut scratch)
                    .then_some(rule.pattern.len());
                if priority.is_none()
                    && let Some(dir) = &rule.index_dir
                {
                    priority = matches(path, dir.as_bytes(), &mut scratch).then_some(dir.len());
                }
                let best = if rule.allow {
                    &mut verdict.allow
                } else {
                    &mut verdict.disallow
                };
                if priority > *best {
                    *best = priority;
                }
            }
        }

        // Google's RobotsMatcher::disallow().
        let disallowed = if specific.decided() {
            specific.disallowed()
        } else if ever_seen_specific {
            // A group names the agent but has no (non-empty) matching rule.
            false
        } else {
            global.decided() && global.disallowed()
        };
        !disallowed
    }

    /// Crawl-delay for this agent (from its group, else from the `*` group),
    /// if any. Fractional seconds allowed; invalid or negative values ignored.
    ///
    /// Agents are selected as in [`Robots::is_allowed`]. The first valid
    /// `crawl-delay` in file order that follows a `user-agent` line naming
    /// the agent wins; failing one, the first following a `*` line; failing
    /// that, one written before any `user-agent` line (a file-wide delay, as
    /// many sites put it at the top).
    pub fn crawl_delay(&self, user_agent: &str) -> Option<Duration> {
        let entries = || {
            self.groups
                .iter()
                .flat_map(|g| g.crawl_delays.iter().map(move |d| (g, d)))
        };
        let specific = entries().find(|(g, d)| {
            g.agents
                .get(..d.agents_before)
                .is_some_and(|agents| names(agents, user_agent))
        });
        specific
            .or_else(|| entries().find(|(_, d)| d.global_before))
            .map(|(_, d)| d.delay)
            .or(self.file_crawl_delay)
    }

    /// Sitemap URLs listed anywhere in the file, in order.
    pub fn sitemaps(&self) -> &[String] {
        &self.sitemaps
    }

    /// Parse statistics as Google's parser reports them.
    pub fn stats(&self) -> &ParseStats {
        &self.stats
    }

    /// Google's `ParseAndEmitLine` followed by the matcher's handlers.
    fn parse_line(&mut self, line_num: usize, line: &[u8]) {
        // Google keeps at most MAX_LINE_LEN - 1 bytes of a line and treats
        // the buffer as a C string, so a NUL ends the line too.
        let line = line.get(..MAX_LINE_LEN - 1).unwrap_or(line);
        let line = match line.iter().position(|&c| c == 0) {
            Some(nul) => line.get(..nul).unwrap_or_default(),
            None => line,
        };
        let Some((key, value)) = split_key_value(line) else {
            return;
        };
        self.stats.last_line_seen = line_num;
        let key_type = classify_key(key);
        if key_type == Key::Unknown {
            self.stats.unknown_directives += 1;
        } else {
            self.stats.valid_directives += 1;
        }

        match key_type {
            Key::UserAgent => self.handle_user_agent(value),
            Key::Allow | Key::Disallow => {
                // Rules before the first user-agent line belong to no group.
                if let Some(group) = self.groups.last_mut() {
                    let pattern = escape_bytes(value);
                    let index_dir = if key_type == Key::Allow {
                        index_dir_pattern(&pattern)
                    } else {
                        None
                    };
                    group.rules.push(Rule {
                        allow: key_type == Key::Allow,
                        pattern,
                        index_dir,
                    });
                }
            }
            Key::Sitemap => self
                .sitemaps
                .push(String::from_utf8_lossy(value).into_owned()),
            Key::Unknown => {
                if !is_crawl_delay_key(key) {
                    return;
                }
                let Some(delay) = parse_crawl_delay(value) else {
                    return;
                };
                match self.groups.last_mut() {
                    Some(group) => group.crawl_delays.push(CrawlDelay {
                        agents_before: group.agents.len(),
                        global_before: group.global,
                        delay,
                    }),
                    None => {
                        self.file_crawl_delay.get_or_insert(delay);
                    }
                }
            }
        }
    }

    /// Google's `HandleUserAgent`, recorded as group structure.
    fn handle_user_agent(&mut self, value: &[u8]) {
        // The first user-agent line, or one after a rule, starts a new group.
        if self.groups.last().is_none_or(|g| !g.rules.is_empty()) {
            self.groups.push(Group::default());
        }
        let Some(group) = self.groups.last_mut() else {
            return;
        };
        // Google-specific: "*" followed by whitespace and more is still global.
        let is_global = match value {
            [b'*'] => true,
            [b'*', next, ..] => is_c_space(*next),
            _ => false,
        };
        if is_global {
            group.global = true;
        } else {
            let token = extract_user_agent(value);
            // The token only holds [A-Za-z_-], so this is lossless.
            group
                .agents
                .push(String::from_utf8_lossy(token).into_owned());
        }
    }
}

/// Google's `GetPathParamsQuery`: URL -> path+params+query used for matching
/// (fragment dropped, "/" by default).
///
/// Scheme and authority are removed; the result always starts with `/`.
/// No normalisation or percent-encoding is done: give the URL in the form
/// you would fetch it.
pub fn path_params_query(url: &str) -> String {
    let bytes = url.as_bytes();
    let find_path_char = |from: usize| {
        bytes
            .get(from..)?
            .iter()
            .position(|c| matches!(c, b'/' | b'?' | b';'))
            .map(|p| p + from)
    };
    let find_str = |needle: &str, from: usize| {
        url.get(from..)
            .and_then(|s| s.find(needle))
            .map(|p| p + from)
    };

    // Initial two slashes are ignored.
    let search_start = if bytes.starts_with(b"//") { 2 } else { 0 };
    let early_path = find_path_char(search_start);
    let mut protocol_end = find_str("://", search_start);
    if npos_less(early_path, protocol_end) {
        // A path, param or query before "://" means it is not a protocol.
        protocol_end = None;
    }
    let protocol_end = protocol_end.map_or(search_start, |p| p + 3);

    let Some(path_start) = find_path_char(protocol_end) else {
        return "/".to_owned();
    };
    let hash_pos = find_str("#", search_start);
    if npos_less(hash_pos, Some(path_start)) {
        return "/".to_owned();
    }
    let path_end = hash_pos.unwrap_or(url.len());
    let path = url.get(path_start..path_end).unwrap_or_default();
    if path.starts_with('/') {
        path.to_owned()
    } else {
        // Prepend a slash if the result would start e.g. with '?'.
        format!("/{path}")
    }
}

/// Google's `MaybeEscapePattern`: non-ASCII bytes to %XX, existing %xx hex
/// uppercased.
///
/// For example `/SanJoséSellers` becomes `/SanJos%C3%A9Sellers` and `%aa`
/// becomes `%AA`; everything else is kept as it is.
pub fn escape_pattern(pattern: &str) -> String {
    escape_bytes(pattern.as_bytes())
}

/// Google's `IsValidUserAgentToObey`: only [A-Za-z_-], non-empty.
pub fn is_valid_user_agent_to_obey(token: &str) -> bool {
    !token.is_empty() && extract_user_agent(token.as_bytes()).len() == token.len()
}

/// `MaybeEscapePattern` on raw bytes; the result is always ASCII.
fn escape_bytes(src: &[u8]) -> String {
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while let Some(&c) = src.get(i) {
        let hex_pair = match (src.get(i + 1), src.get(i + 2)) {
            (Some(a), Some(b)) => a.is_ascii_hexdigit() && b.is_ascii_hexdigit(),
            _ => false,
        };
        if c == b'%' && hex_pair {
            // Normalise an escape sequence (e.g. %2f -> %2F).
            out.push('%');
            for &h in src.get(i + 1..i + 3).unwrap_or_default() {
                out.push(char::from(h.to_ascii_uppercase()));
            }
            i += 3;
            continue;
        }
        if c >= 0x80 {
            // %-escape octets outside the ASCII range.
            out.push('%');
            for nibble in [c >> 4, c & 0xF] {
                if let Some(&hex) = HEX_DIGITS.get(usize::from(nibble)) {
                    out.push(char::from(hex));
                }
            }
        } else {
            out.push(char::from(c));
        }
        i += 1;
    }
    out
}

/// Google's `RobotsMatchStrategy::Matches`: whether `pattern` matches
/// `path`, anchored at the start. `*` matches any run of bytes and `$` is
/// special only at the very end. `pos` is scratch space reused across calls.
///
/// Runs in O(len(path) × len(pattern)) whatever the pattern.
fn matches(path: &[u8], pattern: &[u8], pos: &mut Vec<usize>) -> bool {
    // `pos` holds, sorted, every prefix length of `path` that the part of
    // the pattern read so far can match.
    pos.clear();
    pos.push(0);
    for (i, &pc) in pattern.iter().enumerate() {
        if pc == b'$' && i + 1 == pattern.len() {
            return pos.last() == Some(&path.len());
        }
        if pc == b'*' {
            // Any longer prefix matches too.
            let first = pos.first().copied().unwrap_or_default();
            pos.clear();
            pos.extend(first..=path.len());
        } else {
            // Includes '$' when not at the end of the pattern.
            pos.retain_mut(|p| {
                let hit = path.get(*p) == Some(&pc);
                *p += 1;
                hit
            });
            if pos.is_empty() {
                return false;
            }
        }
    }
    true
}

/// Google-specific: an allow pattern whose last segment starts with
/// `/index.htm` also allows its directory, as the pattern `<dir>/$`.
fn index_dir_pattern(pattern: &str) -> Option<String> {
    let slash = pattern.rfind('/')?;
    let rest = pattern.get(slash..)?;
    if !rest.starts_with("/index.htm") {
        return None;
    }
    let dir = pattern.get(..=slash)?;
    Some(format!("{dir}$"))
}

/// Google's `GetKeyAndValueFrom`: strips the comment and whitespace and
/// splits `key: value` (or `key value` when the colon is missing).
fn split_key_value(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = match line.iter().position(|&c| c == b'#') {
        Some(hash) => line.get(..hash)?,
        None => line,
    };
    let line = strip(line);
    let is_blank = |c: &u8| *c == b' ' || *c == b'\t';

    let sep = if let Some(colon) = line.iter().position(|&c| c == b':') {
        colon
    } else {
        // Google-specific: accept whitespace instead of the colon, but only
        // when the line is exactly two runs of non-whitespace.
        let blank = line.iter().position(is_blank)?;
        let after = line.get(blank..)?;
        let value_start = after.iter().position(|c| !is_blank(c))?;
        if after.get(value_start..)?.iter().any(is_blank) {
            return None;
        }
        blank
    };
    let key = strip(line.get(..sep)?);
    if key.is_empty() {
        return None;
    }
    Some((key, strip(line.get(sep + 1..)?)))
}

/// Google's `ParsedRobotsKey::Parse`: prefix match, ASCII case-insensitive.
fn classify_key(key: &[u8]) -> Key {
    let any = |prefixes: &[&str]| prefixes.iter().any(|p| starts_with_ignore_case(key, p));
    if any(&["user-agent", "useragent", "user agent"]) {
        Key::UserAgent
    } else if any(&["allow"]) {
        Key::Allow
    } else if any(&[
        "disallow",
        "dissallow",
        "dissalow",
        "disalow",
        "diasllow",
        "disallaw",
    ]) {
        Key::Disallow
    } else if any(&["sitemap", "site-map"]) {
        Key::Sitemap
    } else {
        Key::Unknown
    }
}

/// Whether an (unknown to Google) key is a crawl-delay key.
fn is_crawl_delay_key(key: &[u8]) -> bool {
    ["crawl-delay", "crawldelay", "crawl delay"]
        .iter()
        .any(|p| starts_with_ignore_case(key, p))
}

/// Parses a crawl-delay value: decimal seconds (`10`, `0.5`, `.5`).
/// Signs, exponents, units and anything non-finite or too large are invalid.
fn parse_crawl_delay(value: &[u8]) -> Option<Duration> {
    let (int, frac) = match value.iter().position(|&c| c == b'.') {
        Some(dot) => (value.get(..dot)?, value.get(dot + 1..)?),
        None => (value, &[][..]),
    };
    let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let seconds: f64 = std::str::from_utf8(value).ok()?.parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// Whether one of the product tokens `agents` is `user_agent`, ignoring ASCII case.
fn names(agents: &[String], user_agent: &str) -> bool {
    agents.iter().any(|a| a.eq_ignore_ascii_case(user_agent))
}

/// Google's `ExtractUserAgent`: the leading run of `[A-Za-z_-]`.
fn extract_user_agent(value: &[u8]) -> &[u8] {
    let end = value
        .iter()
        .position(|&c| !(c.is_ascii_alphabetic() || c == b'-' || c == b'_'))
        .unwrap_or(value.len());
    value.get(..end).unwrap_or_default()
}

/// `absl::StartsWithIgnoreCase` on bytes.
fn starts_with_ignore_case(s: &[u8], prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// C `isspace` / `absl::ascii_isspace`: space, \t, \n, \v, \f, \r.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// `absl::StripAsciiWhitespace` on bytes.
fn strip(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| !is_c_space(c)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&c| !is_c_space(c))
        .map_or(start, |p| p + 1);
    s.get(start..end).unwrap_or_default()
}

/// `a < b` where `None` is `std::string::npos` (larger than any index).
fn npos_less(a: Option<usize>, b: Option<usize>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delay(body: &str, agent: &str) -> Option<Duration> {
        Robots::parse(body.as_bytes()).crawl_delay(agent)
    }

    #[test]
    fn crawl_delay_values() {
        let d = |v: &str| delay(&format!("User-agent: *\nCrawl-delay: {v}\n"), "Bot");
        assert_eq!(d("10"), Some(Duration::from_secs(10)));
        assert_eq!(d("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(d(".25"), Some(Duration::from_millis(250)));
        assert_eq!(d("0"), Some(Duration::ZERO));
        assert_eq!(d("2 # comment"), Some(Duration::from_secs(2)));
        for bad in [
            "-5", "abc", "", "1e3", "inf", "NaN", "1.2.3", "+3", "5s", "1e400",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
        assert_eq!(d(&"9".repeat(400)), None);
    }

    #[test]
    fn crawl_delay_keys_and_groups() {
        // One group (no rule separates the lines): each crawl-delay applies
        // to the agents named before it; the first applicable one wins.
        let body = "User-agent: *\ncrawldelay: 3\n\nUser-agent: FooBot\nCrawl delay: 5\n\
                    Crawl-delay: 7\nUser-agent: BarBot\nDisallow: /x\n";
        assert_eq!(delay(body, "foobot"), Some(Duration::from_secs(5)));
        assert_eq!(delay(body, "BarBot"), Some(Duration::from_secs(3)));
        assert_eq!(delay(body, "Other"), Some(Duration::from_secs(3)));
        // Two groups: {FooBot, BarBot} and {*}.
        let body = "User-agent: FooBot\nCrawl-delay: 5\nUser-agent: BarBot\nDisallow: /\n\
                    User-agent: *\nDisallow: /x\nCrawl-delay: 2\n";
        assert_eq!(delay(body, "FooBot"), Some(Duration::from_secs(5)));
        // BarBot shares FooBot's group for rules but is named after the delay.
        assert_eq!(delay(body, "BarBot"), Some(Duration::from_secs(2)));
        assert_eq!(delay(body, "Other"), Some(Duration::from_secs(2)));
        // Named group without a delay falls back to the `*` group.
        let body = "User-agent: FooBot\nDisallow: /\nUser-agent: *\nCrawl-delay: 1.5\n";
        assert_eq!(delay(body, "FooBot"), Some(Duration::from_millis(1500)));
        // An invalid value is skipped in favour of a later valid one.
        let body = "User-agent: *\nCrawl-delay: soon\nCrawl-delay: 4\n";
        assert_eq!(delay(body, "x"), Some(Duration::from_secs(4)));
        // Before any group: a file-wide fallback.
        let body = "Crawl-delay: 4\nCrawl-delay: 6\nUser-agent: *\nDisallow: /a\n\
                    User-agent: FooBot\nCrawl-delay: 1\n";
        assert_eq!(delay(body, "x"), Some(Duration::from_secs(4)));
        assert_eq!(delay(body, "FooBot"), Some(Duration::from_secs(1)));
        assert_eq!(delay("User-agent: FooBot\nDisallow: /\n", "x"), None);
        assert_eq!(Robots::allow_all().crawl_delay("x"), None);
        // Nor does it close a group for allow/disallow (as in Google's matcher).
        let r = Robots::parse(b"User-agent: FooBot\nCrawl-delay: 5\nUser-agent: *\nDisallow: /\n");
        assert!(!r.is_allowed("FooBot", "http://h/"));
        // Still an unknown directive for Google's statistics.
        let r = Robots::parse(b"User-agent: *\nCrawl-delay: 4\n");
        assert_eq!(
            (r.stats().valid_directives, r.stats().unknown_directives),
            (1, 1)
        );
    }

    #[test]
    fn allow_and_disallow_all() {
        let all = Robots::allow_all();
        let none = Robots::disallow_all();
        for url in ["http://a.b/", "http://a.b/robots.txt", "", "x?y"] {
            assert!(all.is_allowed("QuarryBot", url));
            assert!(!none.is_allowed("QuarryBot", url));
        }
    }
}
