//! The query language: words are AND-ed, `"exact phrases"`, `-excluded` words or phrases,
//! and `a OR b` alternatives, plus field operators:
//!
//! - `site:example.org`: pages of that host or any subdomain (`docs.example.org`); a
//!   scheme, path or port written with it is ignored (`site:https://example.org/a`).
//! - `title:word`, `title:"a phrase"`: the words in the title.
//! - `url:word`, `url:"two words"`: the words in the URL (`url:guide` finds `/guide/`).
//! - `lang:xx`: pages in that language (primary subtag: `lang:en-GB` is `lang:en`).
//!
//! Operators take a `-` (`-site:example.org`) and combine with `OR` like words; their
//! names are case-insensitive. `site:`, `url:` and `lang:` only filter, they do not add to
//! the score; a query of nothing but them (`site:example.org`) lists those pages by static
//! rank.
//!
//! Parsing never fails on syntax: an unclosed quote makes the rest ordinary words, a lone
//! `-` is ignored, and an operator without a usable value (`site:` alone, `lang:english`,
//! `title:"unclosed`) is an ordinary word. It fails only on what cannot be searched at all:
//! an empty query, one longer than [`MAX_QUERY_CHARS`] (1000) characters, one with more
//! than [`MAX_QUERY_TERMS`] (64) words — every word of a phrase counts, each `site:`,
//! `url:` or `lang:` value counts one — or one of nothing but exclusions.

/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Most words (counting every word of phrases) in one query.
pub const MAX_QUERY_TERMS: usize = 64;

/// A query that cannot be searched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Nothing but whitespace.
    #[error("the query is empty")]
    Empty,
    /// Longer than [`MAX_QUERY_CHARS`].
    #[error("the query is {chars} characters long; the maximum is {max}")]
    TooLong {
        /// Length of the query.
        chars: usize,
        /// The maximum.
        max: usize,
    },
    /// More than [`MAX_QUERY_TERMS`] words.
    #[error("the query has {terms} words; the maximum is {max}")]
    TooManyTerms {
        /// Words in the query.
        terms: usize,
        /// The maximum.
        max: usize,
    },
    /// Only `-excluded` parts.
    #[error("the query only excludes words; add at least one word to search for")]
    OnlyExclusions,
}

/// One searchable unit as the user wrote it (text not yet analyzed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Atom {
    /// A single word.
    Word(String),
    /// Words that must appear next to each other, in order.
    Phrase(String),
    /// `title:word` or `title:"phrase"`: the words, in order, in the title.
    Title(String),
    /// `url:word`: the words anywhere in the URL.
    Url(String),
    /// `site:host`: the host or a subdomain of it. Lower case, without scheme, port, path
    /// or surrounding dots.
    Site(String),
    /// `lang:xx`: the language, a lower-case primary subtag of two or three letters.
    Lang(String),
}

impl Atom {
    /// The text of the atom (the value of an operator).
    pub fn text(&self) -> &str {
        match self {
            Atom::Word(text)
            | Atom::Phrase(text)
            | Atom::Title(text)
            | Atom::Url(text)
            | Atom::Site(text)
            | Atom::Lang(text) => text,
        }
    }

    /// Whether the atom only restricts which pages match and adds nothing to the score.
    pub fn is_filter(&self) -> bool {
        matches!(self, Atom::Url(_) | Atom::Site(_) | Atom::Lang(_))
    }

    /// How many of [`MAX_QUERY_TERMS`] the atom uses.
    fn term_count(&self) -> usize {
        match self {
            Atom::Word(text) | Atom::Phrase(text) | Atom::Title(text) => {
                text.split_whitespace().count()
            }
            Atom::Url(_) | Atom::Site(_) | Atom::Lang(_) => 1,
        }
    }
}

/// A required (or excluded) part of the query: one of its alternatives must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// `a OR b OR c`; a plain word has one alternative.
    pub alternatives: Vec<Atom>,
    /// `-word` or `-"phrase"`: documents matching it are excluded.
    pub negated: bool,
}

/// A parsed query: every non-negated clause must match, no negated clause may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedQuery {
    /// The clauses in query order.
    pub clauses: Vec<Clause>,
}

impl ParsedQuery {
    /// Whether a non-negated clause restricts the query to sites (`site:a OR site:b`).
    pub fn restricts_site(&self) -> bool {
        self.clauses.iter().any(|clause| {
            !clause.negated
                && clause
                    .alternatives
                    .iter()
                    .all(|atom| matches!(atom, Atom::Site(_)))
        })
    }
}

/// The host a `site:` value names: lower case, without scheme, user, port, path or
/// surrounding dots. `None` if nothing host-like remains.
fn site_host(value: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = host_port.split(':').next().unwrap_or("");
    let host = host.strip_prefix("*.").unwrap_or(host).trim_matches('.');
    let valid = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && host.bytes().any(|b| b.is_ascii_alphanumeric());
    valid.then(|| host.to_string())
}

/// The language a `lang:` value names (`en`, `en-GB` → `en`), if it looks like one.
fn lang_code(value: &str) -> Option<String> {
    let primary = value.split(['-', '_']).next()?.to_ascii_lowercase();
    ((2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase()))
        .then_some(primary)
}

/// Reads an operator (`name:value` or `name:"value"`) at the start of `text`; returns the
/// atom and the bytes it used, or `None` when `text` is not a usable operator.
fn operator(text: &str) -> Option<(Atom, usize)> {
    let (name, after) = text.split_once(':')?;
    let name = name.to_ascii_lowercase();
    if !matches!(name.as_str(), "site" | "title" | "url" | "lang") {
        return None;
    }
    let value_start = name.len() + 1;
    let (value, used) = if let Some(quoted) = after.strip_prefix('"') {
        let end = quoted.find('"')?;
        (quoted[..end].trim(), value_start + 1 + end + 1)
    } else {
        let end = after
            .find(|ch: char| ch.is_whitespace() || ch == '"')
            .unwrap_or(after.len());
        (&after[..end], value_start + end)
    };
    if value.is_empty() {
        return None;
    }
    let atom = match name.as_str() {
        "site" => Atom::Site(site_host(value)?),
        "lang" => Atom::Lang(lang_code(value)?),
        "url" => Atom::Url(value.to_string()),
        _ => Atom::Title(value.to_string()),
    };
    Some((atom, used))
}

#[derive(Debug, PartialEq)]
enum Token {
    Atom { atom: Atom, negated: bool },
    Or,
}

fn tokenize(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut negated = false;
        let mut begin = start;
        if c == '-' || c == '+' {
            negated = c == '-';
            chars.next();
            match chars.peek() {
                Some(&(next, n)) if !n.is_whitespace() => begin = next,
                _ => continue, // a lone `-` or `+`
            }
        }
        let rest = &input[begin..];
        if let Some((atom, used)) = operator(rest) {
            tokens.push(Token::Atom { atom, negated });
            while chars.peek().is_some_and(|&(i, _)| i < begin + used) {
                chars.next();
            }
            continue;
        }
        if let Some(after_quote) = rest.strip_prefix('"') {
            if let Some(end) = after_quote.find('"') {
                let phrase = after_quote[..end].trim();
                if !phrase.is_empty() {
                    tokens.push(Token::Atom {
                        atom: Atom::Phrase(phrase.to_string()),
                        negated,
                    });
                }
                let stop = begin + 1 + end + 1;
                while chars.peek().is_some_and(|&(i, _)| i < stop) {
                    chars.next();
                }
                continue;
            }
            // Unclosed quote: the quote is dropped and the rest are ordinary words.
            chars.next();
            continue;
        }
        let end = rest
            .find(|ch: char| ch.is_whitespace() || ch == '"')
            .map_or(input.len(), |offset| begin + offset);
        let word = &input[begin..end];
        while chars.peek().is_some_and(|&(i, _)| i < end) {
            chars.next();
        }
        if word == "OR" && !negated {
            tokens.push(Token::Or);
        } else if !word.is_empty() {
            tokens.push(Token::Atom {
                atom: Atom::Word(word.to_string()),
                negated,
            });
        }
    }
    tokens
}

/// Parses a query.
///
/// # Errors
/// See [`QueryError`]; syntax mistakes are never errors.
pub fn parse(input: &str) -> Result<ParsedQuery, QueryError> {
    let chars = input.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong {
            chars,
            max: MAX_QUERY_CHARS,
        });
    }
    let mut clauses: Vec<Clause> = Vec::new();
    let mut pending_or = false;
    for token in tokenize(input) {
        match token {
            Token::Or => pending_or = !clauses.is_empty(),
            Token::Atom { atom, negated } => {
                let joins =
                    pending_or && !negated && clauses.last().is_some_and(|clause| !clause.negated);
                match clauses.last_mut() {
                    Some(last) if joins => last.alternatives.push(atom),
                    _ => clauses.push(Clause {
                        alternatives: vec![atom],
                        negated,
                    }),
                }
                pending_or = false;
            }
        }
    }
    if clauses.is_empty() {
        return Err(QueryError::Empty);
    }
    let terms: usize = clauses
        .iter()
        .flat_map(|clause| &clause.alternatives)
        .map(Atom::term_count)
        .sum();
    if terms > MAX_QUERY_TERMS {
        return Err(QueryError::TooManyTerms {
            terms,
            max: MAX_QUERY_TERMS,
        });
    }
    if clauses.iter().all(|clause| clause.negated) {
        return Err(QueryError::OnlyExclusions);
    }
    Ok(ParsedQuery { clauses })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Atom {
        Atom::Word(text.to_string())
    }

    fn clause(alternatives: Vec<Atom>, negated: bool) -> Clause {
        Clause {
            alternatives,
            negated,
        }
    }

    #[test]
    fn words_are_separate_required_clauses() {
        let parsed = parse("  rust   borrow checker ").unwrap();
        assert_eq!(
            parsed.clauses,
            vec![
                clause(vec![word("rust")], false),
                clause(vec![word("borrow")], false),
                clause(vec![word("checker")], false),
            ]
        );
    }

    #[test]
    fn phrases_exclusions_and_or() {
        let parsed = parse(r#""exact phrase" -skip -"not this" cat OR dog"#).unwrap();
        assert_eq!(
            parsed.clauses,
            vec![
                clause(vec![Atom::Phrase("exact phrase".into())], false),
                clause(vec![word("skip")], true),
                clause(vec![Atom::Phrase("not this".into())], true),
                clause(vec![word("cat"), word("dog")], false),
            ]
        );
    }

    #[test]
    fn malformed_syntax_degrades_to_words() {
        assert_eq!(
            parse(r#"unclosed "quote here"#).unwrap().clauses,
            vec![
                clause(vec![word("unclosed")], false),
                clause(vec![word("quote")], false),
                clause(vec![word("here")], false),
            ]
        );
        assert_eq!(
            parse("- lone").unwrap().clauses,
            vec![clause(vec![word("lone")], false)]
        );
        assert_eq!(
            parse("OR cat").unwrap().clauses,
            vec![clause(vec![word("cat")], false)]
        );
        assert_eq!(
            parse("cat OR").unwrap().clauses,
            vec![clause(vec![word("cat")], false)]
        );
    }

    #[test]
    fn unusable_queries_are_errors() {
        assert_eq!(parse("   "), Err(QueryError::Empty));
        assert_eq!(parse(r#""""#), Err(QueryError::Empty));
        assert_eq!(parse("-a -b"), Err(QueryError::OnlyExclusions));
        assert!(matches!(
            parse(&"a".repeat(MAX_QUERY_CHARS + 1)),
            Err(QueryError::TooLong { .. })
        ));
        let many = vec!["w"; MAX_QUERY_TERMS + 1].join(" ");
        assert!(matches!(parse(&many), Err(QueryError::TooManyTerms { .. })));
    }

    #[test]
    fn site_matches_host_values_and_strips_the_rest() {
        let site = |q: &str| parse(q).unwrap().clauses;
        assert_eq!(
            site("site:Example.ORG rust"),
            vec![
                clause(vec![Atom::Site("example.org".into())], false),
                clause(vec![word("rust")], false),
            ]
        );
        for written in [
            "site:https://example.org/a/b?c",
            "SITE:example.org.",
            "site:*.example.org",
            "site:example.org:8080",
            "site:\"example.org\"",
        ] {
            assert_eq!(
                site(written),
                vec![clause(vec![Atom::Site("example.org".into())], false)],
                "{written}"
            );
        }
        assert!(parse("site:example.org").unwrap().restricts_site());
        assert!(!parse("-site:example.org x").unwrap().restricts_site());
        assert!(!parse("site:a.org OR x").unwrap().restricts_site());
        assert!(
            parse("site:a.org OR site:b.org x")
                .unwrap()
                .restricts_site()
        );
    }

    #[test]
    fn title_url_and_lang_operators() {
        assert_eq!(
            parse(r#"title:iterators title:"borrow checker" url:guide lang:en-GB"#)
                .unwrap()
                .clauses,
            vec![
                clause(vec![Atom::Title("iterators".into())], false),
                clause(vec![Atom::Title("borrow checker".into())], false),
                clause(vec![Atom::Url("guide".into())], false),
                clause(vec![Atom::Lang("en".into())], false),
            ]
        );
        assert!(Atom::Url("x".into()).is_filter());
        assert!(!Atom::Title("x".into()).is_filter());
    }

    #[test]
    fn operators_can_be_negated_and_or_ed() {
        assert_eq!(
            parse("rust -site:spam.example -title:\"old news\" lang:en OR lang:de")
                .unwrap()
                .clauses,
            vec![
                clause(vec![word("rust")], false),
                clause(vec![Atom::Site("spam.example".into())], true),
                clause(vec![Atom::Title("old news".into())], true),
                clause(
                    vec![Atom::Lang("en".into()), Atom::Lang("de".into())],
                    false
                ),
            ]
        );
        assert_eq!(parse("-site:a.org"), Err(QueryError::OnlyExclusions));
    }

    #[test]
    fn malformed_operators_are_words() {
        assert_eq!(
            parse("site:").unwrap().clauses,
            vec![clause(vec![word("site:")], false)]
        );
        assert_eq!(
            parse("site: rust").unwrap().clauses,
            vec![
                clause(vec![word("site:")], false),
                clause(vec![word("rust")], false)
            ]
        );
        assert_eq!(
            parse("lang:english site:!!! url:").unwrap().clauses,
            vec![
                clause(vec![word("lang:english")], false),
                clause(vec![word("site:!!!")], false),
                clause(vec![word("url:")], false),
            ]
        );
        assert_eq!(
            parse(r#"title:"unclosed words"#).unwrap().clauses,
            vec![
                clause(vec![word("title:")], false),
                clause(vec![word("unclosed")], false),
                clause(vec![word("words")], false),
            ]
        );
        // Unknown names are not operators.
        assert_eq!(
            parse("http://x.org note:1").unwrap().clauses,
            vec![
                clause(vec![word("http://x.org")], false),
                clause(vec![word("note:1")], false)
            ]
        );
    }

    #[test]
    fn operator_values_count_towards_the_term_limit() {
        let many = vec!["site:a.org"; MAX_QUERY_TERMS + 1].join(" ");
        assert!(matches!(parse(&many), Err(QueryError::TooManyTerms { .. })));
        let phrase = format!("title:\"{}\"", vec!["w"; MAX_QUERY_TERMS + 1].join(" "));
        assert!(matches!(
            parse(&phrase),
            Err(QueryError::TooManyTerms { .. })
        ));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for input in [
            "\"",
            "-\"",
            "-",
            "\"\"\"",
            "a\"b",
            "é\"ü -ö OR",
            "OR OR OR",
            "--x",
            "site:",
            "-site:\"",
            "title:\"",
            "url:é:ü",
            "lang:ö",
            "site:@:",
        ] {
            let _ = parse(input);
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const SYNTAX_HEAVY: &str = "([a-z \"\\-OR:.]|site:|title:|url:|lang:){0,80}";

    /// Parsing never panics, and a query it accepts has a positive clause and no empty
    /// `OR` group.
    fn check_parse(input: &str) -> Result<(), TestCaseError> {
        if let Ok(parsed) = parse(input) {
            prop_assert!(!parsed.clauses.is_empty());
            prop_assert!(parsed.clauses.iter().any(|c| !c.negated));
            prop_assert!(parsed.clauses.iter().all(|c| !c.alternatives.is_empty()));
        }
        Ok(())
    }

    proptest! {
        // 100,000 cases each in CI (issue: fuzz the query parser); `long_` runs a million.
        #![proptest_config(ProptestConfig::with_cases(100_000))]

        #[test]
        fn parse_never_panics(input in "\\PC{0,200}") {
            let _ = parse(&input);
        }

        #[test]
        fn syntax_heavy_input_never_panics(input in SYNTAX_HEAVY) {
            check_parse(&input)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000_000))]

        /// The long run: `cargo test -p quarry-searcher --lib long_ -- --ignored`.
        #[test]
        #[ignore = "long fuzz run (a million cases)"]
        fn long_syntax_heavy_input_never_panics(input in SYNTAX_HEAVY) {
            check_parse(&input)?;
        }
    }
}
