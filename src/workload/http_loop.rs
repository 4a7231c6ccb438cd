//! The async models' HTTP client for the embedded server: hyper's connection API, no pool scans.
//!
//! reqwest (on hyper-util's pooled client) spends its time at thousands of requests in
//! flight on what a load generator never does: each request that finds no idle
//! connection becomes a waiter of the pool, and every new connection scans the waiters
//! (a sixth of the event loop's time at 10,000 in flight under `perf record`), besides
//! parsing each URL, building header maps, resolving the host and arming a timeout. Here a
//! task sends a fixed `GET` line to a socket address known in advance: over HTTP/1.1 an
//! idle connection is taken from a stack (last returned, first reused) or a new one
//! opened, so N requests in flight open N connections as oha does; over HTTP/2 every
//! request is a stream of one connection. Real URLs still go through reqwest (TLS,
//! redirects, name resolution), which this client has no need of for the embedded server.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper::{Request, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

type Http1 = http1::SendRequest<Empty<Bytes>>;
type Http2 = http2::SendRequest<Empty<Bytes>>;

/// One repetition's client to one plain-HTTP server; built outside the runtime, used
/// inside it (connections drive themselves as tasks of the runtime that opened them).
pub struct LoopClient {
    addr: SocketAddr,
    authority: String,
    /// The `Host` header of HTTP/1.1 requests, parsed once.
    host: Option<hyper::header::HeaderValue>,
    /// The last path's URI: a cell asks for one path thousands of times, and parsing it
    /// (with the authority, over HTTP/2) for each request is measurable at 10,000 in flight.
    uri: Mutex<Option<(String, hyper::Uri)>>,
    http2: bool,
    timeout: Duration,
    idle: Mutex<Vec<Http1>>,
    shared: tokio::sync::OnceCell<Http2>,
}

/// What an exchange gave: status, body bytes, error kind (`http::HttpOutcome`'s parts).
pub type Exchange = (Option<u16>, u64, Option<String>);

impl LoopClient {
    /// A client for `base` (`http://ADDRESS:PORT`), or None when it is no such URL.
    pub fn new(base: &str, http2: bool, timeout: Duration) -> Option<LoopClient> {
        let authority = base.strip_prefix("http://")?.trim_end_matches('/');
        Some(LoopClient {
            addr: authority.parse().ok()?,
            authority: authority.to_string(),
            host: authority.parse().ok(),
            uri: Mutex::new(None),
            http2,
            timeout,
            idle: Mutex::new(Vec::new()),
            shared: tokio::sync::OnceCell::new(),
        })
    }

    /// One GET of `path` (path and query), bounded by the request timeout.
    pub async fn get(&self, path: &str) -> Exchange {
        let exchange = async {
            if self.http2 {
                self.get_h2(path).await
            } else {
                self.get_h1(path).await
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or((None, 0, Some("timeout".into())))
    }

    fn request(&self, path: &str) -> Request<Empty<Bytes>> {
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = self.uri(path);
        // HTTP/2 carries the authority as a pseudo-header, taken from the URI.
        if !self.http2
            && let Some(host) = &self.host
        {
            request
                .headers_mut()
                .insert(hyper::header::HOST, host.clone());
        }
        request
    }

    fn uri(&self, path: &str) -> hyper::Uri {
        let mut last = self.uri.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, uri)) = last.as_ref()
            && p == path
        {
            return uri.clone();
        }
        // HTTP/2 carries the scheme and authority in the URI; HTTP/1.1 only the path.
        let uri: hyper::Uri = if self.http2 {
            format!("http://{}{path}", self.authority).parse()
        } else {
            path.parse()
        }
        .unwrap_or_default();
        *last = Some((path.to_string(), uri.clone()));
        uri
    }

    async fn connect(&self) -> Result<TokioIo<TcpStream>, String> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|_| "connect".to_string())?;
        // Requests are one small write each: waiting to coalesce them only adds latency.
        let _ = stream.set_nodelay(true);
        Ok(TokioIo::new(stream))
    }

    async fn get_h1(&self, path: &str) -> Exchange {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut sender = match idle {
            Some(s) if !s.is_closed() => s,
            _ => match self.open_h1().await {
                Ok(s) => s,
                Err(kind) => return (None, 0, Some(kind)),
            },
        };
        if let Err(e) = sender.ready().await {
            return (None, 0, Some(hyper_error_kind(&e, false)));
        }
        let exchange = read(sender.send_request(self.request(path)).await, false).await;
        if !sender.is_closed() && exchange.2.is_none() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sender);
        }
        exchange
    }

    async fn open_h1(&self) -> Result<Http1, String> {
        let io = self.connect().await?;
        let (sender, connection) = http1::handshake(io)
            .await
            .map_err(|e| hyper_error_kind(&e, false))?;
        tokio::spawn(connection);
        Ok(sender)
    }

    async fn get_h2(&self, path: &str) -> Exchange {
        let shared = self
            .shared
            .get_or_try_init(|| async {
                let io = self.connect().await?;
                let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| hyper_error_kind(&e, true))?;
                tokio::spawn(connection);
                Ok::<_, String>(sender)
            })
            .await;
        let mut sender = match shared {
            Ok(s) => s.clone(),
            Err(kind) => return (None, 0, Some(kind)),
        };
        read(sender.send_request(self.request(path)).await, true).await
    }
}

/// Reads a response's whole body, counting its bytes; an answer in another version than
/// asked for is a `protocol` error, as in the reqwest client.
async fn read(
    response: hyper::Result<hyper::Response<hyper::body::Incoming>>,
    http2: bool,
) -> Exchange {
    let response = match response {
        Ok(r) => r,
        Err(e) => return (None, 0, Some(hyper_error_kind(&e, http2))),
    };
    let status = Some(response.status().as_u16());
    let allowed = if http2 {
        response.version() == Version::HTTP_2
    } else {
        matches!(response.version(), Version::HTTP_11 | Version::HTTP_10)
    };
    let mut error = (!allowed).then(|| "protocol".to_string());
    let mut body = response.into_body();
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => bytes += frame.data_ref().map_or(0, |d| d.len() as u64),
            Err(e) => {
                error = error.or_else(|| Some(hyper_error_kind(&e, http2)));
                break;
            }
        }
    }
    (status, bytes, error)
}

/// The kind of a failed request's IO error, as both async clients and ureq name it.
pub(super) fn io_kind(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timeout",
        std::io::ErrorKind::ConnectionRefused
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::NotConnected => "connect",
        _ => "io",
    }
    .into()
}

pub(super) fn is_protocol(h: &hyper::Error, http2: bool) -> bool {
    h.is_parse()
        || h.is_parse_status()
        || h.is_parse_version_h2()
        || (http2
            && !(h.is_closed()
                || h.is_canceled()
                || h.is_incomplete_message()
                || h.is_timeout()
                || h.is_user()
                || h.is_body_write_aborted()
                || h.is_shutdown()))
}

/// The kind of a failed request of hyper's own client ([`LoopClient`]), by the
/// rules of `http::reqwest_kind`.
pub(super) fn hyper_error_kind(e: &hyper::Error, http2: bool) -> String {
    let chain = || std::iter::successors(std::error::Error::source(e), |s| s.source());
    if let Some(io) = chain().find_map(|s| s.downcast_ref::<std::io::Error>()) {
        return io_kind(io);
    }
    if is_protocol(e, http2) {
        "protocol"
    } else {
        "io"
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_socket_addresses_make_a_client() {
        let c = LoopClient::new("http://127.0.0.1:8080", false, Duration::from_secs(1));
        assert_eq!(c.map(|c| c.addr.port()), Some(8080));
        for base in [
            "https://127.0.0.1:8080",
            "http://localhost:8080",
            "127.0.0.1:80",
        ] {
            assert!(
                LoopClient::new(base, false, Duration::from_secs(1)).is_none(),
                "{base}"
            );
        }
    }

    #[test]
    fn a_refused_connection_is_a_connect_error() {
        // A port just released by the kernel: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for http2 in [false, true] {
            let client = LoopClient::new(
                &format!("http://127.0.0.1:{port}"),
                http2,
                Duration::from_secs(5),
            )
            .unwrap();
            let (_, _, error) = runtime.block_on(client.get("/delay/0ms"));
            assert_eq!(error.as_deref(), Some("connect"), "http2={http2}");
        }
    }
}
