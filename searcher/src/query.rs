//! The query language: words are AND-ed, `"exact phrases"`, `-excluded` words or phrases,
//! and `a OR b` alternatives.
//!
//! Parsing never fails on syntax: an unclosed quote makes the rest ordinary words, a lone
//! `-` is ignored. It fails only on what cannot be searched at all (empty, too long, too
//! many terms, nothing but exclusions).

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

/// One searchable unit as the user wrote it (not yet analyzed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Atom {
    /// A single word.
    Word(String),
    /// Words that must appear next to each other, in order.
    Phrase(String),
}

impl Atom {
    /// The text of the atom.
    pub fn text(&self) -> &str {
        match self {
            Atom::Word(text) | Atom::Phrase(text) => text,
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
        .map(|atom| atom.text().split_whitespace().count())
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
        ] {
            let _ = parse(input);
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn parse_never_panics(input in "\\PC{0,200}") {
            let _ = parse(&input);
        }

        #[test]
        fn syntax_heavy_input_never_panics(input in "[a-z \"\\-OR]{0,80}") {
            if let Ok(parsed) = parse(&input) {
                prop_assert!(!parsed.clauses.is_empty());
                prop_assert!(parsed.clauses.iter().any(|c| !c.negated));
                prop_assert!(parsed.clauses.iter().all(|c| !c.alternatives.is_empty()));
            }
        }
    }
}
