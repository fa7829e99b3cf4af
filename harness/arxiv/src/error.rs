//! What can go wrong talking to arXiv, as values the CLI turns into clear messages.

use std::time::Duration;

/// An error of the arXiv client or of one of its parsers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not an arXiv identifier in any accepted form.
    #[error(
        "`{input}` is not an arXiv id ({reason}); accepted forms: 1706.03762, 1706.03762v5, \
         arXiv:1706.03762, https://arxiv.org/abs/1706.03762, hep-th/9901001"
    )]
    InvalidId {
        /// What the user gave.
        input: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A setting is unusable (a malformed URL, a request interval below arXiv's terms).
    #[error("{0}")]
    Config(String),

    /// The response is not well-formed XML.
    #[error("malformed XML: {0}")]
    Xml(String),

    /// The XML is well-formed but not the document that was expected.
    #[error("unexpected response: {0}")]
    Format(String),

    /// arXiv answered with its error feed (e.g. HTTP 400 for a malformed id or query).
    #[error("arXiv rejected the request: {message}")]
    Api {
        /// arXiv's own explanation (`incorrect id format for abc`).
        message: String,
    },

    /// The daily feed service answered with an error channel (e.g. an unknown archive).
    #[error("the arXiv feed rejected the request: {0}")]
    Feed(String),

    /// Ids that are well-formed but that arXiv does not have.
    #[error("not found on arXiv: {}", .0.join(", "))]
    NotFound(Vec<String>),

    /// An HTTP status that is neither success nor retryable, or retries ran out on one.
    #[error("HTTP {status} from {url}{}", excerpt_suffix(.body))]
    Http {
        /// The status code.
        status: u16,
        /// The URL asked for.
        url: String,
        /// The start of the response body, for diagnosis.
        body: String,
    },

    /// The server asked to wait longer than the client is willing to.
    #[error("arXiv asked to retry after {}s (more than the {}s this client waits); try again later", .asked.as_secs(), .limit.as_secs())]
    RetryAfterTooLong {
        /// What `Retry-After` asked for.
        asked: Duration,
        /// The client's limit.
        limit: Duration,
    },

    /// The connection failed (after retries).
    #[error("could not reach {url}: {message}")]
    Network {
        /// The URL asked for.
        url: String,
        /// The transport error, with its causes.
        message: String,
    },

    /// The API kept answering with an empty page where results were expected.
    #[error(
        "arXiv returned an empty page at offset {start} of {total} results, {attempts} times; \
         try again later"
    )]
    EmptyPage {
        /// The page's offset.
        start: u64,
        /// totalResults of the query.
        total: u64,
        /// How many times the page was asked for.
        attempts: u32,
    },

    /// A local file (cache, state) could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn excerpt_suffix(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        let excerpt: String = body.chars().take(200).collect();
        let ellipsis = if body.chars().count() > 200 {
            "…"
        } else {
            ""
        };
        format!(": {excerpt}{ellipsis}")
    }
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result with the arXiv [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
