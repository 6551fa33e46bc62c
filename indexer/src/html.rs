//! A streaming HTML reader for text extraction: tokens straight from the bytes, and the
//! element open and close events a browser's tree builder would give for them, without
//! building the tree.
//!
//! The indexer reads every page of the store once per rebuild, and building a DOM with
//! html5ever (tokenizer, tree builder, interned names, one allocation per node) was two
//! thirds of a rebuild's CPU. Text extraction only needs the events in document order, so
//! this module tokenizes with `memchr` over the bytes and keeps just the stack of open
//! elements, applying the parts of the standard's tree construction that change which
//! element a piece of text belongs to:
//! - the `head` section (implied, closed by the first body content, and `title`, `meta`,
//!   `style`… between `</head>` and `<body>` still inside it);
//! - raw text (`script`, `style`, `title`, `textarea`, …) and `plaintext`;
//! - implied end tags: a `p` closed by a block, `li`, `dd`/`dt`, `option`, table cells and
//!   rows, a heading closed by another heading, an `a` closed by the next `a`;
//! - end tags matched through scope (`table` and cells stop the search) and ignored when
//!   nothing matches; a stray `</p>` is an empty paragraph, `</br>` a line break;
//! - void elements; self-closing `/>` only inside `svg` and `math`;
//! - character references (named, with the standard's table, and numeric), in text and
//!   attribute values, with the attribute rules for legacy names;
//! - adjacent text merged into one text node, as the tree builder does when a tag between
//!   two runs is ignored.
//!
//! Left out, because no page we index depends on it: the adoption agency algorithm (a
//! misnested `</b>` just closes up to its `b`), foster parenting of text inside a table
//! but outside its cells, quirks mode, the breakout of HTML tags from foreign content, and
//! the escaped states of script data. The differential test in
//! `tests/extract_differential.rs` compares the extraction with html5ever's DOM on real
//! documentation pages.
//!
//! Elements are nested at most [`MAX_DEPTH`] deep: deeper start tags are dropped (their
//! text stays), which keeps every stack walk bounded on hostile pages.

use std::borrow::Cow;

use html5ever::data::{C1_REPLACEMENTS, NAMED_ENTITIES};
use memchr::memchr;

/// Elements open at once, at most; deeper start tags are dropped.
pub(crate) const MAX_DEPTH: usize = 512;

/// What the reader reports, in document order.
pub(crate) trait Sink {
    /// An element starts (void elements start and end at once); `foreign` for elements of
    /// `svg` and `math` (whose `title` is not the page's).
    fn open(&mut self, name: &str, tag: &StartTag<'_>, foreign: bool);
    /// An element ends.
    fn close(&mut self, name: &str, foreign: bool);
    /// A text node, character references decoded.
    fn text(&mut self, text: &str);
}

/// An attribute as byte ranges of the document; the value still has its references.
#[derive(Debug, Clone, Copy)]
struct Attr {
    name: (usize, usize),
    value: (usize, usize),
}

/// A start tag's attributes.
pub(crate) struct StartTag<'a> {
    html: &'a str,
    attrs: &'a [Attr],
}

impl StartTag<'_> {
    /// The attributes of an element no tag wrote (an implied `head`, a stray `</p>`).
    const NONE: StartTag<'static> = StartTag {
        html: "",
        attrs: &[],
    };

    /// The decoded value of the first attribute called `name` (ASCII lower case).
    pub(crate) fn attr(&self, name: &str) -> Option<Cow<'_, str>> {
        self.attrs
            .iter()
            .find(|a| self.html[a.name.0..a.name.1].eq_ignore_ascii_case(name))
            .map(|a| decode(&self.html[a.value.0..a.value.1], true))
    }
}

fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "basefont"
            | "bgsound"
            | "br"
            | "col"
            | "embed"
            | "frame"
            | "hr"
            | "img"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// Start tags that close an open `p` first.
fn closes_p(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "center"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "header"
            | "hgroup"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "search"
            | "section"
            | "summary"
            | "ul"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "pre"
            | "listing"
            | "form"
            | "plaintext"
            | "table"
            | "hr"
            | "xmp"
            | "li"
            | "dd"
            | "dt"
    )
}

/// The standard's "special" elements: an unmatched end tag stops at them.
fn is_special(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "applet"
            | "area"
            | "article"
            | "aside"
            | "base"
            | "basefont"
            | "bgsound"
            | "blockquote"
            | "body"
            | "br"
            | "button"
            | "caption"
            | "center"
            | "col"
            | "colgroup"
            | "dd"
            | "details"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "embed"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "frame"
            | "frameset"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "head"
            | "header"
            | "hgroup"
            | "hr"
            | "html"
            | "iframe"
            | "img"
            | "input"
            | "keygen"
            | "li"
            | "link"
            | "listing"
            | "main"
            | "marquee"
            | "menu"
            | "meta"
            | "nav"
            | "noembed"
            | "noframes"
            | "noscript"
            | "object"
            | "ol"
            | "p"
            | "param"
            | "plaintext"
            | "pre"
            | "script"
            | "search"
            | "section"
            | "select"
            | "source"
            | "style"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "template"
            | "textarea"
            | "tfoot"
            | "th"
            | "thead"
            | "title"
            | "tr"
            | "track"
            | "ul"
            | "wbr"
            | "xmp"
    )
}

/// Elements that belong in `head`.
fn is_head_content(name: &str) -> bool {
    matches!(
        name,
        "base"
            | "basefont"
            | "bgsound"
            | "link"
            | "meta"
            | "noframes"
            | "noscript"
            | "script"
            | "style"
            | "template"
            | "title"
    )
}

/// Elements closed only by their own end tag when it is in scope.
fn is_scoped(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "applet"
            | "article"
            | "aside"
            | "blockquote"
            | "button"
            | "caption"
            | "center"
            | "colgroup"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "header"
            | "hgroup"
            | "listing"
            | "main"
            | "marquee"
            | "menu"
            | "nav"
            | "object"
            | "ol"
            | "pre"
            | "search"
            | "section"
            | "select"
            | "summary"
            | "table"
            | "tbody"
            | "template"
            | "tfoot"
            | "thead"
            | "ul"
    )
}

/// HTML start tags that end foreign (`svg`, `math`) content.
fn breaks_out(name: &str) -> bool {
    matches!(
        name,
        "b" | "big"
            | "blockquote"
            | "body"
            | "br"
            | "center"
            | "code"
            | "dd"
            | "div"
            | "dl"
            | "dt"
            | "em"
            | "embed"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "head"
            | "hr"
            | "i"
            | "img"
            | "li"
            | "listing"
            | "menu"
            | "meta"
            | "nobr"
            | "ol"
            | "p"
            | "pre"
            | "ruby"
            | "s"
            | "small"
            | "span"
            | "strong"
            | "strike"
            | "sub"
            | "sup"
            | "table"
            | "tt"
            | "u"
            | "ul"
            | "var"
    )
}

/// Formatting elements (the adoption agency's).
fn is_formatting(name: &str) -> bool {
    matches!(
        name,
        "a" | "b"
            | "big"
            | "code"
            | "em"
            | "font"
            | "i"
            | "nobr"
            | "s"
            | "small"
            | "strike"
            | "strong"
            | "tt"
            | "u"
    )
}

const HEADINGS: &[&str] = &["h1", "h2", "h3", "h4", "h5", "h6"];

fn is_in(name: &str, list: &[&str]) -> bool {
    list.contains(&name)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// How the text after a start tag is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Markup,
    /// Text up to the end tag, references decoded (`title`, `textarea`).
    Rcdata,
    /// Text up to the end tag, as is (`script`, `style`, …).
    Raw,
    /// Everything to the end of the document is text.
    Plaintext,
}

fn content_of(name: &str) -> Content {
    match name {
        "title" | "textarea" => Content::Rcdata,
        "script" | "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => Content::Raw,
        "plaintext" => Content::Plaintext,
        _ => Content::Markup,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No `head` yet.
    BeforeHead,
    /// `head` is open.
    InHead,
    /// `</head>` was seen; `head` stays on the stack (for late head elements) until the
    /// body starts.
    AfterHead,
    InBody,
}

/// Elements counted while open, so that "is one in scope" needs no walk when none is.
const COUNTED: &[&str] = &[
    "p", "li", "dd", "dt", "a", "td", "th", "tr", "tbody", "thead", "tfoot", "button", "h1", "h2",
    "h3", "h4", "h5", "h6", "caption", "option", "optgroup", "table",
];

/// Table parts: outside a table their start tags are ignored.
fn is_table_part(name: &str) -> bool {
    matches!(
        name,
        "caption" | "col" | "colgroup" | "frame" | "tbody" | "td" | "tfoot" | "th" | "thead" | "tr"
    )
}

/// The index of `table` in [`COUNTED`].
const TABLE: usize = COUNTED.len() - 1;

fn counted(name: &str) -> Option<usize> {
    // A quick reject first: every counted name starts with one of these letters.
    if !matches!(
        name.as_bytes().first(),
        Some(b'p' | b'l' | b'd' | b'a' | b't' | b'b' | b'h' | b'c' | b'o')
    ) {
        return None;
    }
    COUNTED.iter().position(|c| *c == name)
}

struct Open<'a> {
    name: Cow<'a, str>,
    /// Inside `svg` or `math` (or one of them).
    foreign: bool,
}

/// Reads `html`, reporting its elements and text to `sink`.
pub(crate) fn parse(html: &str, sink: &mut impl Sink) {
    let mut reader = Reader {
        html,
        bytes: html.as_bytes(),
        pos: 0,
        stack: Vec::new(),
        counts: [0; COUNTED.len()],
        mode: Mode::BeforeHead,
        after_body: false,
        pending: Cow::Borrowed(""),
        attrs: Vec::new(),
    };
    reader.run(sink);
}

struct Reader<'a> {
    html: &'a str,
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Open<'a>>,
    /// How many of each [`COUNTED`] element are on the stack.
    counts: [u32; COUNTED.len()],
    mode: Mode,
    /// After `</body>` (or `</html>`) and nothing but whitespace and comments since:
    /// comments then go outside the body and do not split its text.
    after_body: bool,
    /// Text read but not reported yet (adjacent runs merge).
    pending: Cow<'a, str>,
    attrs: Vec<Attr>,
}

/// A tag as read: its name (lower case) and where its attributes are.
struct RawTag<'a> {
    name: Cow<'a, str>,
    self_closing: bool,
}

impl<'a> Reader<'a> {
    fn run(&mut self, sink: &mut impl Sink) {
        while self.pos < self.bytes.len() {
            let Some(offset) = memchr(b'<', &self.bytes[self.pos..]) else {
                let rest = &self.html[self.pos..];
                self.pos = self.bytes.len();
                self.add_text(rest, sink);
                break;
            };
            let lt = self.pos + offset;
            if lt > self.pos {
                let text = &self.html[self.pos..lt];
                self.add_text(text, sink);
            }
            self.pos = lt;
            self.markup(sink);
        }
        self.flush(sink);
        while let Some(open) = self.stack.pop() {
            sink.close(&open.name, open.foreign);
        }
    }

    /// Reads what starts at the `<` at `self.pos`.
    fn markup(&mut self, sink: &mut impl Sink) {
        let at = self.pos;
        let next = self.bytes.get(at + 1).copied();
        match next {
            Some(b) if b.is_ascii_alphabetic() => match self.tag(at + 1, false) {
                Some(tag) => self.start_tag(tag, sink),
                None => self.pos = self.bytes.len(),
            },
            Some(b'/') => match self.bytes.get(at + 2).copied() {
                Some(b) if b.is_ascii_alphabetic() => match self.tag(at + 2, true) {
                    Some(tag) => self.end_tag(&tag.name, sink),
                    None => self.pos = self.bytes.len(),
                },
                Some(b'>') => self.pos = at + 3,
                None => {
                    self.pos = self.bytes.len();
                    self.add_text("</", sink);
                }
                Some(_) => self.bogus_comment(at + 2, sink),
            },
            Some(b'!') => {
                if self.bytes[at..].starts_with(b"<!--") {
                    self.comment(at + 4, sink);
                } else if self.foreign() && self.bytes[at..].starts_with(b"<![CDATA[") {
                    let start = at + 9;
                    let end = find(self.bytes, start, b"]]>").unwrap_or(self.bytes.len());
                    let text = &self.html[start..end];
                    self.pos = (end + 3).min(self.bytes.len());
                    self.add_raw_text(text);
                } else {
                    self.bogus_comment(at + 2, sink);
                }
            }
            Some(b'?') => self.bogus_comment(at + 1, sink),
            _ => {
                self.pos = at + 1;
                self.add_text("<", sink);
            }
        }
    }

    fn comment(&mut self, start: usize, sink: &mut impl Sink) {
        if !self.after_body {
            self.flush(sink);
        }
        // `<!-->` and `<!--->` are empty comments.
        for empty in [&b">"[..], b"->"] {
            if self.bytes[start..].starts_with(empty) {
                self.pos = start + empty.len();
                return;
            }
        }
        let mut from = start;
        loop {
            match find(self.bytes, from, b"--") {
                None => {
                    self.pos = self.bytes.len();
                    return;
                }
                Some(dashes) => {
                    let mut after = dashes + 2;
                    while self.bytes.get(after) == Some(&b'-') {
                        after += 1;
                    }
                    match self.bytes.get(after) {
                        Some(b'>') => {
                            self.pos = after + 1;
                            return;
                        }
                        Some(b'!') if self.bytes.get(after + 1) == Some(&b'>') => {
                            self.pos = after + 2;
                            return;
                        }
                        _ => from = after,
                    }
                }
            }
        }
    }

    fn bogus_comment(&mut self, start: usize, sink: &mut impl Sink) {
        if !self.after_body {
            self.flush(sink);
        }
        self.pos = memchr(b'>', &self.bytes[start..]).map_or(self.bytes.len(), |i| start + i + 1);
    }

    /// Reads a tag whose name starts at `start`; its attributes go to `self.attrs`. `None`
    /// when the document ends inside it (the standard drops such a tag).
    fn tag(&mut self, start: usize, end: bool) -> Option<RawTag<'a>> {
        let bytes = self.bytes;
        let mut i = start;
        while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b'/' && bytes[i] != b'>' {
            i += 1;
        }
        let raw = &self.html[start..i];
        let name = if raw.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(raw.to_ascii_lowercase())
        } else {
            Cow::Borrowed(raw)
        };
        self.attrs.clear();
        let mut self_closing = false;
        loop {
            while i < bytes.len() && is_space(bytes[i]) {
                i += 1;
            }
            match bytes.get(i)? {
                b'>' => {
                    self.pos = i + 1;
                    return Some(RawTag { name, self_closing });
                }
                b'/' => {
                    i += 1;
                    self_closing = bytes.get(i) == Some(&b'>');
                    continue;
                }
                _ => {}
            }
            self_closing = false;
            // The name: a first `=` belongs to it.
            let name_start = i;
            i += 1;
            while i < bytes.len() && !is_space(bytes[i]) && !matches!(bytes[i], b'/' | b'>' | b'=')
            {
                i += 1;
            }
            let name_end = i;
            while i < bytes.len() && is_space(bytes[i]) {
                i += 1;
            }
            let mut value = (i, i);
            if bytes.get(i) == Some(&b'=') {
                i += 1;
                while i < bytes.len() && is_space(bytes[i]) {
                    i += 1;
                }
                match bytes.get(i)? {
                    &quote @ (b'"' | b'\'') => {
                        let close = memchr(quote, &bytes[i + 1..])? + i + 1;
                        value = (i + 1, close);
                        i = close + 1;
                    }
                    b'>' => value = (i, i),
                    _ => {
                        let value_start = i;
                        while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b'>' {
                            i += 1;
                        }
                        value = (value_start, i);
                    }
                }
            }
            if !end {
                self.attrs.push(Attr {
                    name: (name_start, name_end),
                    value,
                });
            }
        }
    }

    /// Pops the foreign elements on top of the stack.
    fn close_foreign(&mut self, sink: &mut impl Sink) {
        let at = self
            .stack
            .iter()
            .rposition(|open| !open.foreign)
            .map_or(0, |html| html + 1);
        self.pop_to(at, sink);
    }

    /// Whether the current node is foreign content (not an integration point, inside
    /// which HTML elements are HTML again).
    fn foreign(&self) -> bool {
        self.stack.last().is_some_and(|open| {
            open.foreign
                && !matches!(
                    &*open.name,
                    "mi" | "mo"
                        | "mn"
                        | "ms"
                        | "mtext"
                        | "annotation-xml"
                        | "foreignobject"
                        | "desc"
                        | "title"
                )
        })
    }

    fn start_tag(&mut self, tag: RawTag<'a>, sink: &mut impl Sink) {
        self.after_body = false;
        let name = if tag.name == "image" {
            Cow::Borrowed("img")
        } else {
            tag.name
        };
        if self.foreign() {
            if !breaks_out(&name) {
                self.push(name, true, tag.self_closing, sink);
                return;
            }
            // An HTML element ends the foreign content it appears in.
            self.close_foreign(sink);
        }
        match self.mode {
            Mode::BeforeHead if name == "html" => {
                if self.stack.is_empty() {
                    self.push(name, false, false, sink);
                }
                return;
            }
            Mode::BeforeHead if name == "head" => {
                self.push(name, false, false, sink);
                self.mode = Mode::InHead;
                return;
            }
            Mode::BeforeHead if is_head_content(&name) => {
                self.push_implied_head(sink);
                self.mode = Mode::InHead;
            }
            Mode::InHead | Mode::AfterHead if matches!(&*name, "html" | "head") => return,
            Mode::InHead | Mode::AfterHead if is_head_content(&name) => {}
            Mode::InBody => {}
            // Anything else outside the body starts it.
            _ => {
                self.start_body(sink);
                if name == "body" {
                    // The body element itself, with its attributes (`hidden`).
                    self.push(name, false, false, sink);
                    return;
                }
            }
        }
        // A second `html` or `body` only adds attributes to the first (not done here).
        if matches!(&*name, "html" | "head" | "body") {
            return;
        }
        if is_table_part(&name) && self.counts[TABLE] == 0 {
            return;
        }
        self.close_implied(&name, sink);
        let content = content_of(&name);
        let foreign = matches!(&*name, "svg" | "math");
        let depth = self.stack.len();
        self.push(name, foreign, foreign && tag.self_closing, sink);
        if content != Content::Markup && self.stack.len() > depth {
            self.raw_content(content, sink);
        }
    }

    /// Opens the implied `head` before a head element that came without one.
    fn push_implied_head(&mut self, sink: &mut impl Sink) {
        self.flush(sink);
        sink.open("head", &StartTag::NONE, false);
        self.stack.push(Open {
            name: Cow::Borrowed("head"),
            foreign: false,
        });
    }

    /// Leaves the head (closing it, implied or not) and enters the body.
    fn start_body(&mut self, sink: &mut impl Sink) {
        self.flush(sink);
        if matches!(self.mode, Mode::InHead | Mode::AfterHead) {
            self.pop_until(|open| open.name == "head", sink);
        } else if self.mode == Mode::BeforeHead {
            sink.open("head", &StartTag::NONE, false);
            sink.close("head", false);
        }
        self.mode = Mode::InBody;
    }

    /// Pushes an element (reports it), or reports a void or self-closed one as started
    /// and ended.
    fn push(
        &mut self,
        name: Cow<'a, str>,
        foreign: bool,
        self_closing: bool,
        sink: &mut impl Sink,
    ) {
        let void = !foreign && is_void(&name);
        if !void && !self_closing && self.stack.len() >= MAX_DEPTH {
            return;
        }
        self.flush(sink);
        let foreign = foreign || self.foreign();
        let tag = StartTag {
            html: self.html,
            attrs: &self.attrs,
        };
        sink.open(&name, &tag, foreign);
        if void || self_closing {
            sink.close(&name, foreign);
        } else {
            if let Some(i) = counted(&name) {
                self.counts[i] += 1;
            }
            self.stack.push(Open { name, foreign });
        }
    }

    /// The end tags a start tag `name` implies.
    fn close_implied(&mut self, name: &str, sink: &mut impl Sink) {
        match name {
            "li" => self.close_list_item(&["li"], sink),
            "dd" | "dt" => self.close_list_item(&["dd", "dt"], sink),
            "a" => {
                if let Some(at) = self.find_formatting("a") {
                    self.pop_to(at, sink);
                }
            }
            "option" => self.close_top(&["option"], sink),
            "optgroup" => {
                self.close_top(&["option"], sink);
                self.close_top(&["optgroup"], sink);
            }
            "td" | "th" => {
                if let Some(at) = self.in_scope(&["td", "th"], TABLE_SCOPE) {
                    self.pop_to(at, sink);
                }
            }
            "tr" => {
                if let Some(at) = self.in_scope(&["tr"], TABLE_SCOPE) {
                    self.pop_to(at, sink);
                }
            }
            "tbody" | "thead" | "tfoot" => {
                if let Some(at) = self.in_scope(&["tbody", "thead", "tfoot"], TABLE_SCOPE) {
                    self.pop_to(at, sink);
                }
            }
            "button" => {
                if let Some(at) = self.in_scope(&["button"], SCOPE) {
                    self.pop_to(at, sink);
                }
            }
            _ => {}
        }
        if closes_p(name) {
            self.close_p(sink);
        }
        if is_in(name, HEADINGS)
            && self
                .stack
                .last()
                .is_some_and(|open| is_in(&open.name, HEADINGS))
        {
            self.pop_to(self.stack.len() - 1, sink);
        }
    }

    fn close_p(&mut self, sink: &mut impl Sink) {
        if let Some(at) = self.in_scope(&["p"], BUTTON_SCOPE) {
            self.pop_to(at, sink);
        }
    }

    /// `<li>` closes an open `li` unless a special element other than `address`, `div`
    /// or `p` lies between (likewise `dd`/`dt`).
    fn close_list_item(&mut self, names: &[&str], sink: &mut impl Sink) {
        if names
            .iter()
            .all(|name| counted(name).is_some_and(|i| self.counts[i] == 0))
        {
            return;
        }
        for at in (0..self.stack.len()).rev() {
            let open = &self.stack[at].name;
            if is_in(open, names) {
                self.pop_to(at, sink);
                return;
            }
            if is_special(open) && !matches!(&**open, "address" | "div" | "p") {
                return;
            }
        }
    }

    fn close_top(&mut self, names: &[&str], sink: &mut impl Sink) {
        if self
            .stack
            .last()
            .is_some_and(|open| is_in(&open.name, names))
        {
            self.pop_to(self.stack.len() - 1, sink);
        }
    }

    /// Where an open formatting element `name` is, not beyond a cell or other marker.
    fn find_formatting(&self, name: &str) -> Option<usize> {
        if counted(name).is_some_and(|i| self.counts[i] == 0) {
            return None;
        }
        for at in (0..self.stack.len()).rev() {
            let open = &self.stack[at].name;
            if open == name {
                return Some(at);
            }
            if matches!(
                &**open,
                "td" | "th" | "caption" | "template" | "object" | "applet" | "marquee" | "html"
            ) {
                return None;
            }
        }
        None
    }

    /// Where the innermost element named one of `names` is, if no scope boundary lies
    /// between it and the current node.
    fn in_scope(&self, names: &[&str], boundaries: &[&str]) -> Option<usize> {
        let none_open = names
            .iter()
            .all(|name| counted(name).is_some_and(|i| self.counts[i] == 0));
        if none_open {
            return None;
        }
        for at in (0..self.stack.len()).rev() {
            let open = &self.stack[at];
            if !open.foreign && is_in(&open.name, names) {
                return Some(at);
            }
            if is_in(&open.name, boundaries) {
                return None;
            }
        }
        None
    }

    /// Pops the elements from the current node down to the one at `at`, reporting each.
    fn pop_to(&mut self, at: usize, sink: &mut impl Sink) {
        self.flush(sink);
        while self.stack.len() > at {
            if let Some(open) = self.stack.pop() {
                if let Some(i) = counted(&open.name) {
                    self.counts[i] -= 1;
                }
                sink.close(&open.name, open.foreign);
            }
        }
    }

    fn pop_until(&mut self, found: impl Fn(&Open<'_>) -> bool, sink: &mut impl Sink) {
        if let Some(at) = self.stack.iter().rposition(found) {
            self.pop_to(at, sink);
        }
    }

    fn end_tag(&mut self, name: &str, sink: &mut impl Sink) {
        let after_body = self.mode == Mode::InBody && matches!(name, "body" | "html");
        self.after_body = after_body || (self.after_body && matches!(name, "body" | "html"));
        if self.foreign() && matches!(name, "br" | "p") {
            self.close_foreign(sink);
        } else if self.foreign() {
            // In foreign content an end tag closes the nearest foreign element of its name;
            // one that reaches an HTML element first is read by the HTML rules.
            for at in (0..self.stack.len()).rev() {
                let open = &self.stack[at];
                if !open.foreign {
                    break;
                }
                if open.name.eq_ignore_ascii_case(name) {
                    self.pop_to(at, sink);
                    return;
                }
            }
        }
        match self.mode {
            Mode::BeforeHead | Mode::AfterHead => {
                if !matches!(name, "head" | "body" | "html" | "br") {
                    return;
                }
                self.start_body(sink);
            }
            Mode::InHead => {
                if name == "head" {
                    self.flush(sink);
                    self.mode = Mode::AfterHead;
                    return;
                }
                if matches!(name, "body" | "html" | "br") {
                    self.start_body(sink);
                } else if !self.stack.iter().any(|open| open.name == name) {
                    return;
                }
            }
            Mode::InBody => {}
        }
        match name {
            "body" | "html" => {}
            "br" => self.push(Cow::Borrowed("br"), false, false, sink),
            "p" => match self.in_scope(&["p"], BUTTON_SCOPE) {
                Some(at) => self.pop_to(at, sink),
                None => {
                    self.flush(sink);
                    sink.open("p", &StartTag::NONE, false);
                    sink.close("p", false);
                }
            },
            "li" => {
                if let Some(at) = self.in_scope(&["li"], LIST_ITEM_SCOPE) {
                    self.pop_to(at, sink);
                }
            }
            "dd" | "dt" => {
                if let Some(at) = self.in_scope(&[name], SCOPE) {
                    self.pop_to(at, sink);
                }
            }
            _ if is_in(name, HEADINGS) => {
                if let Some(at) = self.in_scope(HEADINGS, SCOPE) {
                    self.pop_to(at, sink);
                }
            }
            "td" | "th" | "tr" | "caption" => {
                if let Some(at) = self.in_scope(&[name], TABLE_SCOPE) {
                    self.pop_to(at, sink);
                }
            }
            _ if is_scoped(name) => {
                let scope = if matches!(name, "table" | "tbody" | "thead" | "tfoot") {
                    TABLE_SCOPE
                } else {
                    SCOPE
                };
                if let Some(at) = self.in_scope(&[name], scope) {
                    self.pop_to(at, sink);
                }
            }
            _ => {
                // Any other end tag: the nearest element of its name, unless a special
                // element comes first. A formatting element behind a special one is
                // restructured by the adoption agency; what matters of that here is that
                // the text before and after the end tag lands in separate nodes.
                let formatting = is_formatting(name);
                for at in (0..self.stack.len()).rev() {
                    let open = &self.stack[at].name;
                    if open == name {
                        self.pop_to(at, sink);
                        return;
                    }
                    if is_special(open) {
                        if formatting && self.find_formatting(name).is_some() {
                            self.flush(sink);
                        }
                        return;
                    }
                }
            }
        }
    }

    /// Reads the content of the raw-text element just pushed, up to its end tag, and
    /// closes it.
    fn raw_content(&mut self, content: Content, sink: &mut impl Sink) {
        let start = self.pos;
        if content == Content::Plaintext {
            let text = &self.html[start..];
            self.pos = self.bytes.len();
            self.add_raw_text(text);
            return;
        }
        let name = match self.stack.last() {
            Some(open) => open.name.clone(),
            None => return,
        };
        let (end, after) = find_end_tag(self.bytes, start, name.as_bytes())
            .unwrap_or((self.bytes.len(), self.bytes.len()));
        let text = &self.html[start..end];
        if content == Content::Rcdata {
            self.append(decode(text, false));
        } else {
            self.add_raw_text(text);
        }
        self.pos = after;
        self.pop_to(self.stack.len() - 1, sink);
    }

    /// Adds text with character references. Outside the body, whitespace between head
    /// elements is no text node that matters, and other text starts the body.
    fn add_text(&mut self, text: &'a str, sink: &mut impl Sink) {
        if self.mode != Mode::InBody
            && !self.foreign()
            && self
                .stack
                .last()
                .is_none_or(|open| matches!(&*open.name, "head" | "html"))
        {
            if text.bytes().all(is_space) {
                return;
            }
            self.start_body(sink);
        }
        if self.after_body && !text.bytes().all(is_space) {
            self.after_body = false;
        }
        self.append(decode(text, false));
    }

    /// Adds text as it is written (raw text elements, CDATA sections).
    fn add_raw_text(&mut self, text: &'a str) {
        self.append(Cow::Borrowed(text));
    }

    fn append(&mut self, text: Cow<'a, str>) {
        if self.pending.is_empty() {
            self.pending = text;
        } else {
            self.pending.to_mut().push_str(&text);
        }
    }

    /// Reports the pending text.
    fn flush(&mut self, sink: &mut impl Sink) {
        if !self.pending.is_empty() {
            sink.text(&self.pending);
            self.pending = Cow::Borrowed("");
        }
    }
}

/// Where the end tag `</name` (followed by a space, `/` or `>`) is from `from`, and where
/// the text after it starts.
fn find_end_tag(bytes: &[u8], from: usize, name: &[u8]) -> Option<(usize, usize)> {
    let mut at = from;
    while let Some(offset) = memchr(b'<', &bytes[at..]) {
        let lt = at + offset;
        let after_name = lt + 2 + name.len();
        if bytes.get(lt + 1) == Some(&b'/')
            && bytes
                .get(lt + 2..after_name)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
            && bytes
                .get(after_name)
                .is_none_or(|&b| is_space(b) || b == b'/' || b == b'>')
        {
            let close =
                memchr(b'>', &bytes[after_name..]).map_or(bytes.len(), |i| after_name + i + 1);
            return Some((lt, close));
        }
        at = lt + 1;
    }
    None
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(&bytes[from.min(bytes.len())..], needle).map(|i| from + i)
}

/// Scope boundaries of the standard's "has an element in scope".
const SCOPE: &[&str] = &[
    "applet", "caption", "html", "table", "td", "th", "marquee", "object", "template",
];
const BUTTON_SCOPE: &[&str] = &[
    "applet", "caption", "html", "table", "td", "th", "marquee", "object", "template", "button",
];
const LIST_ITEM_SCOPE: &[&str] = &[
    "applet", "caption", "html", "table", "td", "th", "marquee", "object", "template", "ol", "ul",
];
const TABLE_SCOPE: &[&str] = &["html", "table", "template"];

/// `text` with its character references decoded (and NUL characters dropped), borrowed
/// when there is nothing to decode. In an attribute value a named reference without `;`
/// followed by `=` or an alphanumeric character stays as written.
pub(crate) fn decode(text: &str, in_attribute: bool) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    if memchr::memchr2(b'&', 0, bytes).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(offset) = memchr::memchr2(b'&', 0, &bytes[at..]) {
        let amp = at + offset;
        out.push_str(&text[at..amp]);
        if bytes[amp] == 0 {
            at = amp + 1;
            continue;
        }
        let (decoded, used) = reference(&text[amp + 1..], in_attribute);
        match decoded {
            Some((first, second)) => {
                out.push(first);
                if let Some(second) = second {
                    out.push(second);
                }
                at = amp + 1 + used;
            }
            None => {
                out.push('&');
                at = amp + 1;
            }
        }
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// The character reference at the start of `rest` (just after its `&`): the characters it
/// stands for and the bytes it took.
fn reference(rest: &str, in_attribute: bool) -> (Option<(char, Option<char>)>, usize) {
    let bytes = rest.as_bytes();
    if bytes.first() == Some(&b'#') {
        let hex = matches!(bytes.get(1), Some(b'x' | b'X'));
        let digits_start = if hex { 2 } else { 1 };
        let mut i = digits_start;
        let mut value: u32 = 0;
        while let Some(&b) = bytes.get(i) {
            let digit = if hex {
                (b as char).to_digit(16)
            } else {
                (b as char).to_digit(10)
            };
            let Some(digit) = digit else { break };
            value = value
                .saturating_mul(if hex { 16 } else { 10 })
                .saturating_add(digit);
            i += 1;
        }
        if i == digits_start {
            return (None, 0);
        }
        if bytes.get(i) == Some(&b';') {
            i += 1;
        }
        return (Some((numeric(value), None)), i);
    }
    let mut best: Option<(usize, (u32, u32))> = None;
    let mut len = 0;
    while let Some(&b) = bytes.get(len) {
        if !(b.is_ascii_alphanumeric() || b == b';') {
            break;
        }
        len += 1;
        match NAMED_ENTITIES.get(&rest[..len]) {
            Some(&(0, _)) => {}
            Some(&value) => best = Some((len, value)),
            None => break,
        }
        if b == b';' {
            break;
        }
    }
    let Some((used, (first, second))) = best else {
        return (None, 0);
    };
    if in_attribute
        && bytes[used - 1] != b';'
        && bytes
            .get(used)
            .is_some_and(|&b| b == b'=' || b.is_ascii_alphanumeric())
    {
        return (None, 0);
    }
    let first = char::from_u32(first).unwrap_or('\u{fffd}');
    let second = (second != 0).then(|| char::from_u32(second).unwrap_or('\u{fffd}'));
    (Some((first, second)), used)
}

fn numeric(value: u32) -> char {
    match value {
        0 => '\u{fffd}',
        0x80..=0x9f => C1_REPLACEMENTS[(value - 0x80) as usize]
            .unwrap_or_else(|| char::from_u32(value).unwrap_or('\u{fffd}')),
        _ => char::from_u32(value).unwrap_or('\u{fffd}'),
    }
}
