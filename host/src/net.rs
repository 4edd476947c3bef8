//! The HTTP client the collectors, channels and remote write share, the TLS provider the
//! whole process uses, and what a failed request means for an operator.
//!
//! Every request a collector makes has a deadline ([`REQUEST_TIMEOUT`] unless the
//! collector is given another): a node that accepts a connection and never answers must
//! not stall the tick for the other nodes. Answers are read up to a size limit, so a
//! misbehaving endpoint cannot make the daemon buffer gigabytes.
//!
//! Failures are classified ([`HttpError`]) into what an operator acts on differently:
//! timed out, connection refused, cannot connect (DNS, TLS, unreachable network), an HTTP
//! error status, an oversized answer. URLs in messages are redacted ([`redact_url`]): a
//! password in the URL or an API key in the query never reaches a log or an alert.

use std::time::Duration;

/// Default deadline of one request, connect to last byte. Five seconds is far above a
/// healthy local node's answer time (milliseconds) and well below a 12 s slot, so a
/// hanging node is reported within the tick that noticed it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Deadline for the TCP (and TLS) connection alone: a host that drops SYNs is reported
/// as unreachable without waiting for the whole request deadline.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Idle pooled connections are closed after this: nodes are polled every few seconds,
/// so keeping the connection saves a handshake per tick; much longer and a restarted
/// node's stale socket lingers.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of an error body is quoted in a message: enough to show a node's reason
/// ("method not found", an HTML error page's title), short enough for an alert line.
pub const BODY_SNIPPET_CHARS: usize = 200;

/// `User-Agent` of every request, so node operators can tell Vigil's traffic apart.
pub const USER_AGENT: &str = concat!("vigil/", env!("CARGO_PKG_VERSION"));

/// Why a request got no usable answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// No complete answer within the deadline: the node is overloaded, stuck, or a
    /// firewall drops packets.
    #[error("request to {url} timed out after {}", fmt_duration(*.timeout))]
    Timeout { url: String, timeout: Duration },
    /// Nothing listens on that port: the node is down or configured on another port.
    #[error(
        "request to {url} failed: connection refused (is the node running and listening there?)"
    )]
    Refused { url: String },
    /// Could not connect for another reason (name resolution, TLS, network unreachable).
    #[error("request to {url} failed: cannot connect: {reason}")]
    Connect { url: String, reason: String },
    /// The server answered with an error status.
    #[error("request to {url} failed: HTTP {status}{}", fmt_snippet(body))]
    Status {
        url: String,
        status: u16,
        /// The start of the body, for the server's own reason.
        body: String,
    },
    /// The answer was larger than the collector accepts.
    #[error("answer from {url} is larger than {limit} bytes; is this the right endpoint?")]
    TooLarge { url: String, limit: usize },
    /// The URL in the configuration is not one a request can be sent to.
    #[error("invalid URL {url}: {reason} (expected a full URL such as http://host:port)")]
    InvalidUrl { url: String, reason: String },
    /// The connection broke mid-answer, or another transport failure.
    #[error("request to {url} failed: {reason}")]
    Transport { url: String, reason: String },
}

/// Why the shared client could not be built (no usable TLS roots, say).
#[derive(Debug, thiserror::Error)]
#[error("failed to build the HTTP client: {0}")]
pub struct ClientBuildError(String);

/// Installs rustls' ring crypto provider as the process default, once. The workspace
/// builds reqwest without a provider (aws-lc would add a long C build), and reqwest
/// panics when it builds a TLS client with none installed. Calling it again, or after
/// another part of the process installed a provider, does nothing.
pub fn install_tls_provider() {
    // Err means a provider is installed already: exactly what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The client the collectors share: [`REQUEST_TIMEOUT`], [`CONNECT_TIMEOUT`], a
/// `vigil/<version>` user agent, rustls with the platform's roots. Cheap to clone.
pub fn http_client() -> Result<reqwest::Client, ClientBuildError> {
    install_tls_provider();
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build()
        .map_err(|e| ClientBuildError(error_chain(&e)))
}

/// A URL fit for messages: no password, no query string (API keys live there), no
/// fragment. Text that does not parse as a URL is returned unchanged.
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else {
        return url.to_owned();
    };
    if u.password().is_some() {
        // Cannot fail for a URL that already has a password (it has a host).
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        u.set_query(Some("***"));
    }
    u.set_fragment(None);
    u.to_string()
}

/// A finished exchange: the status and the body, read in full within the limit.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: reqwest::StatusCode,
    pub(crate) body: Vec<u8>,
}

/// Sends `request` and reads the whole answer within `timeout` and `limit` bytes. The
/// deadline is enforced here too, not only by reqwest, so it holds for the body as well
/// whatever the client was built with. `url` is the redacted URL for messages.
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
    url: &str,
    timeout: Duration,
    limit: usize,
) -> Result<Answer, HttpError> {
    let work = async {
        let mut response = request
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| classify(&e, url, timeout))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| classify(&e, url, timeout))?
        {
            if body.len() + chunk.len() > limit {
                return Err(HttpError::TooLarge {
                    url: url.to_owned(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, body })
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(HttpError::Timeout {
                url: url.to_owned(),
                timeout,
            })
        })
}

/// The error for a non-success status, quoting the start of the body.
pub(crate) fn status_error(url: &str, answer: &Answer) -> HttpError {
    HttpError::Status {
        url: url.to_owned(),
        status: answer.status.as_u16(),
        body: snippet(&answer.body),
    }
}

/// The start of a body as one line of text, for messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(BODY_SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Maps a reqwest error to what the operator does about it. reqwest's own message
/// ("error sending request for url …") says neither, so the cause chain is searched.
fn classify(e: &reqwest::Error, url: &str, timeout: Duration) -> HttpError {
    let url = url.to_owned();
    if e.is_timeout() || io_kind(e) == Some(std::io::ErrorKind::TimedOut) {
        return HttpError::Timeout { url, timeout };
    }
    if io_kind(e) == Some(std::io::ErrorKind::ConnectionRefused) {
        return HttpError::Refused { url };
    }
    if e.is_builder() {
        return HttpError::InvalidUrl {
            url,
            reason: root_cause(e),
        };
    }
    if e.is_connect() {
        return HttpError::Connect {
            url,
            reason: root_cause(e),
        };
    }
    HttpError::Transport {
        url,
        reason: root_cause(e),
    }
}

/// The kind of the first I/O error in the cause chain, if any.
fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = err.source();
    }
    None
}

/// The innermost cause's message: the one that names the problem ("dns error: failed
/// to lookup address", "invalid peer certificate: UnknownIssuer").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Every message of the cause chain, joined.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(err) = cur {
        parts.push(err.to_string());
        cur = err.source();
    }
    parts.join(": ")
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn fmt_snippet(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_and_queries() {
        assert_eq!(
            redact_url("https://user:secret@rpc.example/v1?key=abc#x"),
            "https://user:***@rpc.example/v1?***"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:8545"),
            "http://127.0.0.1:8545/"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn snippets_are_one_short_line() {
        assert_eq!(snippet(b"  <html>\n <b>502</b>\r\n"), "<html> <b>502</b>");
        let long = "x".repeat(BODY_SNIPPET_CHARS + 10);
        assert_eq!(
            snippet(long.as_bytes()).chars().count(),
            BODY_SNIPPET_CHARS + 1
        );
    }

    #[test]
    fn messages_read_well() {
        let e = HttpError::Timeout {
            url: "http://h:1/".into(),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(e.to_string(), "request to http://h:1/ timed out after 5 s");
        let e = HttpError::Status {
            url: "http://h:1/".into(),
            status: 503,
            body: String::new(),
        };
        assert_eq!(e.to_string(), "request to http://h:1/ failed: HTTP 503");
    }

    #[test]
    fn builds_a_client_twice() {
        http_client().unwrap();
        http_client().unwrap();
    }
}
