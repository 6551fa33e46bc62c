//! End-to-end tests: fixture sites on 127.0.0.1, crawl → page store → index → search,
//! through the library API and through the `quarry` binary.

mod binary;
mod crash;
mod disk_full;
mod errors;
mod hostile;
mod index_crash;
mod pipeline;
mod politeness;
mod traps;
mod web_page;
