//! The async models' HTTP client for the embedded server: no pool scans, no task per request.
//!
//! reqwest (on hyper-util's pooled client) spends its time at thousands of requests in
//! flight on what a load generator never does: each request that finds no idle
//! connection becomes a waiter of the pool, and every new connection scans the waiters
//! (a sixth of the event loop's time at 10,000 in flight under `perf record`), besides
//! parsing each URL, building header maps, resolving the host and arming a timeout. Here a
//! task sends a fixed `GET` line to a socket address known in advance: over HTTP/1.1 an
//! idle connection is taken from a stack (last returned, first reused) or a new one
//! opened, so N requests in flight open N connections as oha does; over HTTP/2 every
//! request is a stream of one connection, sent and awaited by the task itself through
//! the h2 crate (hyper's HTTP/2 client adds a task and a channel per request), with
//! flow-control windows of 1 GiB as load generators set them, so 10,000 answers of a
//! kilobyte never wait for a window update. Real URLs still go through reqwest (TLS,
//! redirects, name resolution), which this client has no need of for the embedded server.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper::{Request, Version};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Http1 = http1::SendRequest<Empty<Bytes>>;
/// The h2 crate's own handle, not hyper's: hyper's HTTP/2 client spawns a task per
/// request to await the stream and hands the answer back through a channel, which at
/// 10,000 in flight costs the event loop a task, a channel and a wake-up per request.
type Http2 = h2::client::SendRequest<Bytes>;

/// HTTP/2 flow-control windows (stream and connection) of 1 GiB - 1.
const WINDOW: u32 = (1 << 30) - 1;

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

    fn request_h1(&self, path: &str) -> Request<Empty<Bytes>> {
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = self.uri(path);
        if let Some(host) = &self.host {
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

    async fn connect(&self) -> Result<TcpStream, String> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|_| "connect".to_string())?;
        // Requests are one small write each: waiting to coalesce them only adds latency.
        let _ = stream.set_nodelay(true);
        Ok(stream)
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
            return (None, 0, Some(hyper_error_kind(&e)));
        }
        let exchange = read(sender.send_request(self.request_h1(path)).await).await;
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
        let (sender, connection) = http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| hyper_error_kind(&e))?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// The one HTTP/2 connection, opened by the first request to need it.
    async fn h2(&self) -> Result<&Http2, String> {
        self.shared
            .get_or_try_init(|| async {
                let io = self.connect().await?;
                let (sender, connection) = h2::client::Builder::new()
                    .initial_window_size(WINDOW)
                    .initial_connection_window_size(WINDOW)
                    .handshake(io)
                    .await
                    .map_err(|e| h2_error_kind(&e))?;
                tokio::spawn(async move {
                    // A broken connection fails every stream on it: each request reports it.
                    let _ = connection.await;
                });
                Ok::<_, String>(sender)
            })
            .await
    }

    async fn get_h2(&self, path: &str) -> Exchange {
        let sender = match self.h2().await {
            Ok(s) => s.clone(),
            Err(kind) => return (None, 0, Some(kind)),
        };
        let mut sender = match sender.ready().await {
            Ok(s) => s,
            Err(e) => return h2_failed(None, 0, &e),
        };
        let mut request = Request::new(());
        *request.uri_mut() = self.uri(path);
        let response = match sender.send_request(request, true) {
            Ok((response, _)) => response.await,
            Err(e) => Err(e),
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => return h2_failed(None, 0, &e),
        };
        let status = Some(response.status().as_u16());
        let mut body = response.into_body();
        let mut bytes = 0u64;
        while let Some(chunk) = body.data().await {
            match chunk {
                Ok(chunk) => {
                    bytes += chunk.len() as u64;
                    // Hand the window back, as a reader must, however large it is.
                    let _ = body.flow_control().release_capacity(chunk.len());
                }
                Err(e) => return h2_failed(status, bytes, &e),
            }
        }
        (status, bytes, None)
    }
}

/// Reads an HTTP/1 response's whole body, counting its bytes; an answer in another
/// version is a `protocol` error, as in the reqwest client.
async fn read(response: hyper::Result<hyper::Response<hyper::body::Incoming>>) -> Exchange {
    let response = match response {
        Ok(r) => r,
        Err(e) => return (None, 0, Some(hyper_error_kind(&e))),
    };
    let status = Some(response.status().as_u16());
    let allowed = matches!(response.version(), Version::HTTP_11 | Version::HTTP_10);
    let mut error = (!allowed).then(|| "protocol".to_string());
    let mut body = response.into_body();
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => bytes += frame.data_ref().map_or(0, |d| d.len() as u64),
            Err(e) => {
                error = error.or_else(|| Some(hyper_error_kind(&e)));
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

/// The kind of a failed HTTP/2 request of the h2 client, by the same rules: the
/// socket's errors by their IO kind; a stream or connection the server ended in error,
/// or bytes that are no HTTP/2, `protocol`; a connection closed or refused cleanly, `io`.
fn h2_error_kind(e: &h2::Error) -> String {
    if let Some(io) = e.get_io() {
        return io_kind(io);
    }
    match e.reason() {
        None | Some(h2::Reason::NO_ERROR | h2::Reason::CANCEL | h2::Reason::REFUSED_STREAM) => "io",
        Some(_) => "protocol",
    }
    .into()
}

/// What an HTTP/2 exchange gave when h2 failed it after `status` and `bytes`.
fn h2_failed(status: Option<u16>, bytes: u64, e: &h2::Error) -> Exchange {
    (status, bytes, Some(h2_error_kind(e)))
}

/// The kind of a failed HTTP/1 request of hyper's own client ([`LoopClient`]), by the
/// rules of `http::reqwest_kind`.
fn hyper_error_kind(e: &hyper::Error) -> String {
    let chain = || std::iter::successors(std::error::Error::source(e), |s| s.source());
    if let Some(io) = chain().find_map(|s| s.downcast_ref::<std::io::Error>()) {
        return io_kind(io);
    }
    if is_protocol(e, false) {
        "protocol"
    } else {
        "io"
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One GET from a fresh client on a fresh event loop to 127.0.0.1:`port`.
    fn get_once(port: u16, http2: bool) -> Exchange {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = LoopClient::new(&base, http2, Duration::from_secs(5)).unwrap();
        runtime.block_on(client.get("/delay/0ms"))
    }

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
        for http2 in [false, true] {
            let (_, _, error) = get_once(port, http2);
            assert_eq!(error.as_deref(), Some("connect"), "http2={http2}");
        }
    }

    #[test]
    fn an_http1_answer_to_an_http2_request_is_a_protocol_error() {
        // A server that answers every connection in HTTP/1.0, whatever it was sent.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for mut stream in listener.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok");
            }
        });
        let (status, _, error) = get_once(port, true);
        assert_eq!((status, error.as_deref()), (None, Some("protocol")));
    }
}
