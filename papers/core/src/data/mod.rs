//! Datasets: downloads into a SHA-256-verified cache.
//!
//! Paper crates describe their canonical datasets as lists of pinned [`RemoteFile`]s and obtain
//! local paths with [`fetch`]; offline defaults live in the paper crates themselves.

pub mod download;

pub use download::{RemoteFile, cache_dir, fetch, fetch_from};
