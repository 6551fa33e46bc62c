//! Quarry's indexer: turns the page store into compact on-disk tantivy indexes.
//!
//! The indexer reads the page store (see `quarry-pagestore`) from the start, extracts the
//! text of every HTML page, keeps one document per URL (the latest fetch wins) and writes a
//! new **generation**: a directory `index/gen-NNNNNN/` holding a tantivy index and a
//! `generation.json` summary. When the generation is complete, the `index/CURRENT` pointer
//! is switched atomically (write a temporary file, fsync, rename); readers that opened the
//! previous generation keep using it until they reload.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use quarry_indexer::{rebuild, RebuildOptions};
//! use quarry_pagestore::PageStore;
//!
//! let store = PageStore::open("data/pages".as_ref())?;
//! let stats = rebuild(&store, "data/index".as_ref(), &RebuildOptions::default())?;
//! println!("{} documents in {}", stats.documents, stats.generation);
//! # Ok(())
//! # }
//! ```

mod analyzer;
mod boilerplate;
mod build;
mod dedup;
mod dictionary;
mod document;
mod error;
mod generation;
mod graph;
mod html;
mod schema;
mod shard;
mod state;

pub use analyzer::{ANALYZER_EN, is_unspaced_script, is_word_char, register_analyzers};
pub use build::{
    PlainDocument, RebuildOptions, RebuildProgress, RebuildStats, index_documents, rebuild, update,
    update_start,
};
pub use dictionary::{Completion, Dictionary, dictionary_words};
pub use document::{
    ExtractedDocument, ExtractedPage, Link, MAX_BODY_CHARS, extract_document, extract_page, is_html,
};
pub use error::IndexError;
pub use generation::{Generation, GenerationId, GenerationMeta, IndexLayout, IndexStats};
pub use schema::{Fields, build_schema, host_suffixes};
pub use shard::{BadShard, MAX_SHARDS, Shard, shard_of};
