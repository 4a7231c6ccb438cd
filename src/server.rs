//! The embedded latency server (`conclab serve`): HTTP/1.1 and cleartext HTTP/2 on 127.0.0.1
//! that answers after a chosen delay, and the child-process handle `run` uses to start and
//! always stop it.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;

use crate::child::ChildProcess;
use crate::duration::{format_duration, parse_duration};

/// The listen backlog: bursts of 10,000 new connections must queue, not be refused.
const BACKLOG: u32 = 8192;
/// HTTP/2 streams one connection may carry at once: every task of an experiment in flight.
const MAX_STREAMS: u32 = 1 << 20;
/// Bodies up to this size are slices of one shared buffer.
const SHARED_BODY: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// 0 picks a free port.
    pub port: u16,
    /// Delay of requests that do not name their own (`GET /`).
    pub latency: Duration,
    /// Uniform +- jitter on that delay.
    pub jitter: Duration,
    pub body_bytes: usize,
    /// Share of `GET /` requests answered 503.
    pub error_rate: f64,
    /// Exit when standard input closes: the parent holds it, so the server dies with it.
    pub exit_on_stdin_eof: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 0,
            latency: Duration::from_millis(100),
            jitter: Duration::ZERO,
            body_bytes: 1024,
            error_rate: 0.0,
            exit_on_stdin_eof: false,
        }
    }
}

/// What one request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub delay: Duration,
    pub bytes: usize,
    pub status: u16,
}

/// Reads `GET /delay/<duration>?bytes=N&status=S` (or any other path: the defaults).
/// `draw` gives numbers in [0, 1) for jitter and errors.
pub fn route(
    method: &Method,
    path: &str,
    query: Option<&str>,
    cfg: &ServerConfig,
    mut draw: impl FnMut() -> f64,
) -> Result<Reply, String> {
    if method != Method::GET {
        return Err(format!("only GET is served, not {method}"));
    }
    let mut reply = if let Some(d) = path.strip_prefix("/delay/") {
        let delay = parse_duration(d).map_err(|e| format!("bad delay in {path}: {e}"))?;
        Reply {
            delay,
            bytes: cfg.body_bytes,
            status: 200,
        }
    } else {
        let jitter = cfg.jitter.as_secs_f64() * (2.0 * draw() - 1.0);
        let delay = Duration::from_secs_f64((cfg.latency.as_secs_f64() + jitter).max(0.0));
        let status = if draw() < cfg.error_rate { 503 } else { 200 };
        Reply {
            delay,
            bytes: cfg.body_bytes,
            status,
        }
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("bad query item \"{pair}\": want key=value"))?;
        match k {
            "bytes" => {
                reply.bytes = v
                    .parse()
                    .map_err(|_| format!("bytes={v} is not a whole number"))?
            }
            "status" => {
                reply.status = v
                    .parse()
                    .ok()
                    .filter(|s| (200..600).contains(s))
                    .ok_or_else(|| format!("status={v} is not a status from 200 to 599"))?
            }
            _ => return Err(format!("unknown query key \"{k}\"; allowed: bytes, status")),
        }
    }
    Ok(reply)
}

fn body(n: usize) -> Bytes {
    static SHARED: OnceLock<Bytes> = OnceLock::new();
    if n <= SHARED_BODY {
        SHARED
            .get_or_init(|| Bytes::from(vec![b'x'; SHARED_BODY]))
            .slice(..n)
    } else {
        Bytes::from(vec![b'x'; n])
    }
}

/// A number in [0, 1) from a shared counter (splitmix64): cheap and lock-free.
fn draw() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0x853c_49e6_748f_ea9b);
    let mut z = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    cfg: &'static ServerConfig,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let uri = req.uri();
    match route(req.method(), uri.path(), uri.query(), cfg, draw) {
        Ok(reply) => {
            if !reply.delay.is_zero() {
                tokio::time::sleep(reply.delay).await;
            }
            let mut r = Response::new(Full::new(body(reply.bytes)));
            *r.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
            Ok(r)
        }
        Err(message) => {
            let mut r = Response::new(Full::new(Bytes::from(message + "\n")));
            *r.status_mut() = StatusCode::BAD_REQUEST;
            Ok(r)
        }
    }
}

/// Serves until killed (or until stdin closes, if asked). Binds 127.0.0.1 only and prints
/// `listening on 127.0.0.1:PORT` once it accepts connections.
pub fn serve(cfg: ServerConfig) -> anyhow::Result<()> {
    let cfg: &'static ServerConfig = Box::leak(Box::new(cfg));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket
            .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, cfg.port)))
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", cfg.port))?;
        let listener = socket.listen(BACKLOG)?;
        let addr = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on {addr}")?;
            out.flush()?;
        }
        if cfg.exit_on_stdin_eof {
            std::thread::spawn(|| {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
                std::process::exit(0);
            });
        }
        // HTTP/1.1 or HTTP/2 (prior knowledge), told apart by the connection's first bytes.
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1().keep_alive(true).timer(TokioTimer::new());
        http.http2()
            .max_concurrent_streams(Some(MAX_STREAMS))
            .timer(TokioTimer::new());
        let http = std::sync::Arc::new(http);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of file descriptors: let connections close, then accept again.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let http = http.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(req, cfg));
                let _ = http
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// Raises this process's soft open-file limit to its hard limit: thousands of concurrent
/// connections need a descriptor each, and many systems start processes at 1,024.
pub fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(hard)) = (limit.current, limit.maximum)
        && current < hard
    {
        // Where the limit cannot be raised, runs that need more descriptors fail with the
        // OS's own reason, per connection.
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        );
    }
}

/// The embedded server running as a child process; dropping it stops it.
pub struct ServerChild {
    process: ChildProcess,
    base_url: String,
}

impl ServerChild {
    /// Starts `<exe> serve --port 0 ...` and waits (at most 10 s) until it answers a GET.
    pub fn spawn(exe: &Path, cfg: &ServerConfig) -> anyhow::Result<ServerChild> {
        let mut command = Command::new(exe);
        command
            .args(["serve", "--port", &cfg.port.to_string()])
            .args([
                "--latency",
                &format_duration(cfg.latency),
                "--jitter",
                &format_duration(cfg.jitter),
            ])
            .args([
                "--body-bytes",
                &cfg.body_bytes.to_string(),
                "--error-rate",
                &cfg.error_rate.to_string(),
                "--exit-on-stdin-eof",
            ]);
        // Ctrl-C in the terminal reaches conclab alone, which winds the run down and then
        // stops the server, instead of the server vanishing mid-repetition.
        let mut process = ChildProcess::spawn(command)
            .with_context(|| format!("cannot start {} serve", exe.display()))?;
        let stdout = process.take_stdout();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut server = ServerChild {
            process,
            base_url: String::new(),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| anyhow::anyhow!("the embedded server did not start within 10 s"))?;
        let addr = line.trim().strip_prefix("listening on ").ok_or_else(|| {
            anyhow::anyhow!("the embedded server said {line:?} instead of its address")
        })?;
        server.base_url = format!("http://{addr}");
        server.wait_until_ready(Duration::from_secs(10))?;
        Ok(server)
    }

    fn wait_until_ready(&self, limit: Duration) -> anyhow::Result<()> {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(1)))
            .build()
            .new_agent();
        let url = format!("{}/delay/0ms?bytes=1", self.base_url);
        let started = Instant::now();
        while started.elapsed() < limit {
            if agent.get(&url).call().is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        bail!(
            "the embedded server at {} did not answer within {limit:?}",
            self.base_url
        )
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// How the server ended, if it has by `grace` from now (polled every 5 ms).
    pub fn exited_within(&mut self, grace: Duration) -> Option<String> {
        let until = Instant::now() + grace;
        loop {
            if let Some(why) = self.exited() {
                return Some(why);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// How the server ended, if it has: `signal 9`, `exit status 1`.
    pub fn exited(&mut self) -> Option<String> {
        self.process.try_exit().map(|exit| exit.status.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ServerConfig {
        ServerConfig {
            latency: Duration::from_millis(100),
            jitter: Duration::from_millis(10),
            error_rate: 0.5,
            ..Default::default()
        }
    }

    #[test]
    fn delay_route_with_query() {
        let r = route(
            &Method::GET,
            "/delay/250us",
            Some("bytes=10&status=503"),
            &cfg(),
            || 0.5,
        )
        .unwrap();
        assert_eq!(
            r,
            Reply {
                delay: Duration::from_micros(250),
                bytes: 10,
                status: 503
            }
        );
    }

    #[test]
    fn default_route_applies_jitter_and_error_rate() {
        let low = route(&Method::GET, "/", None, &cfg(), || 0.0).unwrap();
        assert_eq!((low.delay, low.status), (Duration::from_millis(90), 503));
        let high = route(&Method::GET, "/anything", None, &cfg(), || 0.999).unwrap();
        assert!(high.delay > Duration::from_millis(109) && high.status == 200);
    }

    #[test]
    fn malformed_requests_are_explained() {
        assert!(
            route(&Method::GET, "/delay/abc", None, &cfg(), || 0.5)
                .unwrap_err()
                .contains("bad delay")
        );
        assert!(route(&Method::GET, "/delay/5ms", Some("bytes=-1"), &cfg(), || 0.5).is_err());
        assert!(
            route(
                &Method::GET,
                "/delay/5ms",
                Some("status=42"),
                &cfg(),
                || 0.5
            )
            .is_err()
        );
        assert!(
            route(
                &Method::GET,
                "/delay/5ms",
                Some("colour=red"),
                &cfg(),
                || 0.5
            )
            .unwrap_err()
            .contains("allowed")
        );
        assert!(route(&Method::POST, "/", None, &cfg(), || 0.5).is_err());
    }
}
