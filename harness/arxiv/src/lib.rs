//! The arXiv harness: follow the field and turn papers into suite crates.
//!
//! Layers, bottom-up:
//! - [`id`] parses every form of arXiv identifier a user may paste (`1706.03762v5`, `arXiv:…`,
//!   abs/pdf URLs, old-style `hep-th/9901001`);
//! - [`atom`] parses the query API's Atom feed (both the 2016 and the current layout) into
//!   [`Entry`] values, [`rss`] the daily announcement feed of rss.arxiv.org (RSS 2.0 or Atom) with
//!   its announce types, [`oai`] the OAI-PMH `arXiv` metadata format;
//! - [`client`] talks to the service under arXiv's terms of use: one request every 3 s over one
//!   connection, a descriptive User-Agent, retries with backoff that honour `Retry-After`, paging
//!   up to `totalResults`, and a response cache ([`cache`]) for id look-ups;
//! - [`bibtex`], [`track`] and [`stub`] are the workflows, and [`cli`] the `repro arxiv` commands.
//!
//! Parsers return errors for bad input and never panic; the conformance tests run them over
//! responses recorded from the real service.

pub mod atom;
pub mod bibtex;
pub mod cache;
pub mod cli;
pub mod client;
pub mod entry;
pub mod error;
pub mod id;
pub mod oai;
mod render;
pub mod retry;
pub mod rss;
pub mod stub;
mod text;
pub mod track;
mod xml;

pub use client::{Client, ClientConfig, SearchRequest, SortBy, SortOrder};
pub use entry::{Author, Entry};
pub use error::Error;
pub use id::ArxivId;
