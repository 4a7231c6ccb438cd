//! What HTTP over loopback costs on this machine before any HTTP library is involved: the
//! floor under the `http` benchmarks (figures in the README).
//!
//! cargo build --release && cargo run --release --example http_floor
//!
//! 1. The kernel's price of one loopback TCP connection: blocking connect + accept + close.
//! 2. The shortest time one event-loop thread can fetch N slow pages over fresh HTTP/1.1
//!    connections from `conclab serve`, with a hand-written request and no HTTP library:
//!    what `async` with `http_version = "1.1"` could reach at best.
//! 3. The same over one HTTP/2 connection with hyper's low-level client (no pool, no URL
//!    parsing, no redirects or timeouts): near what `http_version = "2"` could reach.
//!
//! Starts the server from $CONCLAB_EXE, else the conclab binary beside this example's folder.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use conclab::server::{ServerChild, ServerConfig, raise_open_file_limit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Microseconds of one loopback connection, set up and torn down by one thread.
fn connection_cost(n: usize) -> std::io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let started = Instant::now();
    for _ in 0..n {
        let client = TcpStream::connect(addr)?;
        let (server, _) = listener.accept()?;
        drop(client);
        drop(server);
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / n as f64)
}

/// One GET on a fresh connection; returns once the whole body has arrived.
async fn get(addr: &str, request: &[u8], body_bytes: usize) -> std::io::Result<()> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    stream.write_all(request).await?;
    let mut buf = vec![0u8; 2048 + body_bytes];
    let mut got = 0;
    loop {
        let n = stream.read(&mut buf[got..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
        let head_end = buf[..got].windows(4).position(|w| w == b"\r\n\r\n");
        if head_end.is_some_and(|h| got >= h + 4 + body_bytes) {
            return Ok(());
        }
    }
}

/// Seconds `work` takes on a fresh current-thread runtime, as `async` runs its tasks.
fn on_one_event_loop(work: impl std::future::Future<Output = ()>) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    runtime.block_on(work);
    started.elapsed().as_secs_f64()
}

/// Seconds for `tasks` concurrent GETs of `delay` as streams of one HTTP/2 connection.
fn fetch_all_http2(base: &str, tasks: usize, delay: &str, body_bytes: usize) -> f64 {
    use http_body_util::{BodyExt, Empty};
    let addr = base.trim_start_matches("http://").to_string();
    let uri: hyper::Uri = format!("{base}/delay/{delay}?bytes={body_bytes}")
        .parse()
        .expect("uri");
    on_one_event_loop(async {
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, connection) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .handshake::<_, Empty<bytes::Bytes>>(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("HTTP/2 handshake");
        tokio::spawn(connection);
        let mut handles = Vec::with_capacity(tasks);
        for _ in 0..tasks {
            let (mut sender, uri) = (sender.clone(), uri.clone());
            handles.push(tokio::spawn(async move {
                let request = hyper::Request::get(uri)
                    .body(Empty::new())
                    .expect("request");
                let response = sender.send_request(request).await.expect("GET");
                let body = response.into_body().collect().await.expect("body");
                assert_eq!(body.to_bytes().len(), body_bytes);
            }));
        }
        for h in handles {
            h.await.expect("task");
        }
    })
}

/// Seconds for `tasks` concurrent GETs of `delay` on one current-thread event loop.
fn fetch_all(base: &str, tasks: usize, delay: &str, body_bytes: usize) -> f64 {
    let addr = base.trim_start_matches("http://").to_string();
    let request = format!(
        "GET /delay/{delay}?bytes={body_bytes} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    on_one_event_loop(async {
        let mut handles = Vec::with_capacity(tasks);
        for _ in 0..tasks {
            let (addr, request) = (addr.clone(), request.clone());
            handles.push(tokio::spawn(async move {
                get(&addr, request.as_bytes(), body_bytes).await
            }));
        }
        for h in handles {
            h.await.expect("task").expect("GET");
        }
    })
}

fn main() -> anyhow::Result<()> {
    raise_open_file_limit();
    let exe = std::env::var_os("CONCLAB_EXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let me = std::env::current_exe().expect("own path");
            me.parent()
                .and_then(|d| d.parent())
                .expect("target dir")
                .join("conclab")
        });
    let mut out = std::io::stdout().lock();
    let costs: Vec<f64> = (0..5)
        .map(|_| connection_cost(5_000))
        .collect::<Result<_, _>>()?;
    writeln!(
        out,
        "loopback TCP connect + accept + close: {:.1} us per connection (median of 5 x 5,000)",
        median(costs)
    )?;
    let server = ServerChild::spawn(&exe, &ServerConfig::default())?;
    type Fetch = fn(&str, usize, &str, usize) -> f64;
    let ways: [(&str, Fetch); 2] = [
        ("fresh HTTP/1.1 connections, no HTTP library", fetch_all),
        (
            "one HTTP/2 connection, hyper's low-level client",
            fetch_all_http2,
        ),
    ];
    for (how, fetch) in ways {
        for (tasks, delay, ideal, body) in [(500, "200ms", 0.2, 1024), (10_000, "100ms", 0.1, 256)]
        {
            // One unmeasured round first, as `warmup = 1` would.
            fetch(server.base_url(), tasks, delay, body);
            let times: Vec<f64> = (0..5)
                .map(|_| {
                    std::thread::sleep(Duration::from_millis(200));
                    fetch(server.base_url(), tasks, delay, body)
                })
                .collect();
            let m = median(times);
            writeln!(
                out,
                "{tasks} GETs of {delay}, {how}, one event-loop thread: {:.1} ms = {:.2}x the {:.0} ms ideal (median of 5)",
                m * 1e3,
                m / ideal,
                ideal * 1e3
            )?;
        }
    }
    Ok(())
}
