//! The `http` workload: one GET per task, against the embedded latency server or real URLs.
//!
//! Blocking models use ureq (a truly synchronous client, one agent per worker thread, so
//! connections are reused like a session); async models share one reqwest client per
//! repetition. reqwest's own blocking client is never used: it funnels every request
//! through one hidden runtime thread, which would make a "thread" model secretly async.

use std::collections::BTreeMap;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::http_loop::{LoopClient, io_kind, is_protocol};
use super::{
    AsyncWorker, BuildEnv, Calibration, Kind, KindConfig, Output, Part, TaskCost, TaskFuture,
    TaskRecord, TaskResult, Verdict, Worker, Workload, WorkloadConfig,
};
use crate::duration::format_duration;
use crate::workload::params::{
    Default, KindDef, MAX_TASKS, ParamDef, ParamType, Params, ParamsExt, StepUse, Work,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpConfig {
    pub tasks: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    pub latency: Duration,
    pub jitter: Duration,
    pub body_bytes: u64,
    pub error_rate: f64,
    pub request_timeout: Duration,
    /// `http_version = "2"`: the async client multiplexes every request over one
    /// connection (prior knowledge on http://, ALPN on https://).
    #[serde(default)]
    pub http2: bool,
}

/// The parameter that asks the async models for HTTP/2; other models refuse it.
pub const HTTP_VERSION: &str = "http_version";

/// A response body held in memory at most.
pub const MAX_BODY_BYTES: u64 = 1 << 30;

impl Kind for HttpConfig {
    const DEF: KindDef = KindDef {
        name: "http",
        doc: "each task makes one GET; the embedded latency server unless `urls` are given",
        params: &[
            ParamDef {
                name: "tasks",
                ty: ParamType::Count {
                    min: 1,
                    max: MAX_TASKS,
                },
                default: Default::LenOf("urls", 10),
                doc: "number of requests (urls are cycled)",
            },
            ParamDef {
                name: "urls",
                ty: ParamType::Urls,
                default: Default::Absent,
                doc: "real URLs to fetch; absent = embedded server on 127.0.0.1",
            },
            ParamDef {
                name: "latency",
                ty: ParamType::Duration { positive: false },
                default: Default::Dur("100ms"),
                doc: "embedded server: delay before answering",
            },
            ParamDef {
                name: "jitter",
                ty: ParamType::Duration { positive: false },
                default: Default::Dur("0ms"),
                doc: "embedded server: uniform +- jitter on the delay",
            },
            ParamDef {
                name: "body_bytes",
                ty: ParamType::Count {
                    min: 0,
                    max: MAX_BODY_BYTES,
                },
                default: Default::Int(1024),
                doc: "embedded server: response body size",
            },
            ParamDef {
                name: "error_rate",
                ty: ParamType::Fraction,
                default: Default::Float(0.0),
                doc: "embedded server: share of requests answered 503",
            },
            ParamDef {
                name: HTTP_VERSION,
                ty: ParamType::Choice(&["1.1", "2"]),
                default: Default::Str("1.1"),
                doc: "HTTP version of the async models: \"2\" carries every request as a stream of one connection (blocking models speak 1.1 only)",
            },
            ParamDef {
                name: "request_timeout",
                ty: ParamType::Duration { positive: true },
                default: Default::Dur("10s"),
                doc: "limit for one request",
            },
        ],
        step: StepUse::Any,
        work: Work::Waits,
        phases: false,
    };

    fn from_params(p: &Params) -> HttpConfig {
        HttpConfig {
            tasks: p.count("tasks") as usize,
            urls: p.strings("urls"),
            latency: p.duration("latency"),
            jitter: p.duration("jitter"),
            body_bytes: p.count("body_bytes"),
            error_rate: p.fraction("error_rate"),
            request_timeout: p.duration("request_timeout"),
            http2: p.text(HTTP_VERSION) == "2",
        }
    }
}

impl KindConfig for HttpConfig {
    fn tasks(&self) -> usize {
        self.tasks
    }

    fn cost(&self, calibration: &Calibration) -> Option<TaskCost> {
        Some(match &self.urls {
            None => TaskCost::waiting(self.latency.as_secs_f64()),
            Some(_) => TaskCost::waiting(calibration.request_latency_s?),
        })
    }

    fn needs_server(&self) -> bool {
        self.urls.is_none()
    }

    fn cost_is_measured(&self) -> bool {
        self.urls.is_some()
    }

    fn parts(&self, task: usize, env: &BuildEnv) -> Vec<Part> {
        vec![Part::Http {
            url: self.url(task, env.server_url.as_deref()),
            timeout_s: self.request_timeout.as_secs_f64(),
            http2: self.http2,
        }]
    }

    fn build(&self, env: &BuildEnv) -> anyhow::Result<Arc<dyn Workload>> {
        Ok(Arc::new(Http::new(self.clone(), env.server_url.clone())?))
    }
}

impl HttpConfig {
    /// The URL of task `task`. For the embedded server the delay and status are decided
    /// here, from the task number, so every model meets exactly the same slow and failing
    /// requests.
    pub fn url(&self, task: usize, server: Option<&str>) -> String {
        if let Some(urls) = &self.urls {
            return urls[task % urls.len()].clone();
        }
        let base = server.unwrap_or("http://127.0.0.1:0");
        let r = unit_random(task as u64);
        let jitter = self.jitter.as_secs_f64() * (2.0 * r - 1.0);
        let delay = Duration::from_secs_f64((self.latency.as_secs_f64() + jitter).max(0.0));
        let status = if unit_random(task as u64 ^ 0x5eed) < self.error_rate {
            503
        } else {
            200
        };
        format!(
            "{base}/delay/{}?bytes={}&status={status}",
            format_duration(delay),
            self.body_bytes
        )
    }
}

/// A number in [0, 1) determined by `n` (splitmix64).
fn unit_random(n: u64) -> f64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// What one request gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpOutcome {
    pub status: Option<u16>,
    pub bytes: u64,
    pub latency_s: f64,
    /// `timeout`, `connect`, `status`, `protocol` or `io` when the request failed.
    pub error: Option<String>,
}

impl HttpOutcome {
    /// The outcome of a request that began at `started`: a status outside 2xx with no
    /// other error is a `status` error.
    fn new(started: Instant, status: Option<u16>, bytes: u64, error: Option<String>) -> Self {
        let error = match (status, error) {
            (_, Some(e)) => Some(e),
            (Some(s), None) if !(200..300).contains(&s) => Some("status".into()),
            _ => None,
        };
        HttpOutcome {
            status,
            bytes,
            latency_s: started.elapsed().as_secs_f64(),
            error,
        }
    }

    fn into_result(self) -> TaskResult {
        TaskResult {
            ok: self.error.is_none(),
            output: Output::Http(self),
        }
    }
}

pub struct Http {
    config: WorkloadConfig,
    c: HttpConfig,
    server: Option<String>,
    /// The async client of the next repetition, built before its clock starts: loading
    /// TLS roots takes milliseconds that are no part of any model's cost.
    next_client: std::sync::Mutex<Option<reqwest::Client>>,
}

impl Http {
    pub fn new(c: HttpConfig, server: Option<String>) -> anyhow::Result<Http> {
        if c.urls.is_none() && server.is_none() {
            anyhow::bail!(
                "an http workload without urls needs the embedded server, and none was started"
            );
        }
        install_tls_provider();
        Ok(Http {
            config: WorkloadConfig::Http(c.clone()),
            c,
            server,
            next_client: std::sync::Mutex::new(None),
        })
    }

    fn url(&self, task: usize) -> String {
        self.c.url(task, self.server.as_deref())
    }

    /// One reqwest client for the event loop. HTTP/1.1 unless the file asks for HTTP/2, so
    /// that a server offering both never changes what an experiment measures.
    fn async_client(&self) -> reqwest::Client {
        // No TCP keep-alive probes or user timeout: `request_timeout` bounds every request,
        // and the five socket options they take are a measurable part of a loopback
        // connect's cost.
        let builder = reqwest::Client::builder()
            .timeout(self.c.request_timeout)
            .tcp_keepalive(None)
            .tcp_keepalive_interval(None)
            .tcp_keepalive_retries(None)
            .tcp_user_timeout(None);
        let builder = if self.c.http2 {
            builder.http2_prior_knowledge()
        } else {
            builder.http1_only()
        };
        builder.build().unwrap_or_else(|_| reqwest::Client::new())
    }

    /// The lean client, for the embedded server only (no `urls`).
    fn loop_client(&self) -> Option<LoopClient> {
        if self.c.urls.is_some() {
            return None;
        }
        let base = self.server.as_deref()?;
        LoopClient::new(base, self.c.http2, self.c.request_timeout)
    }

    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(self.c.request_timeout))
            .http_status_as_error(false)
            .max_redirects(10)
            .build()
            .new_agent()
    }
}

/// rustls needs one process-wide crypto provider; ring builds from source with no system library.
fn install_tls_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// One blocking GET with `agent`, reading the whole body.
fn get_blocking(agent: &ureq::Agent, url: &str) -> HttpOutcome {
    let started = Instant::now();
    let (status, bytes, error) = match agent.get(url).call() {
        Ok(mut response) => {
            let status = response.status().as_u16();
            match std::io::copy(&mut response.body_mut().as_reader(), &mut std::io::sink()) {
                Ok(n) => (Some(status), n, None),
                Err(e) => (Some(status), 0, Some(io_kind(&e))),
            }
        }
        Err(e) => (None, 0, Some(ureq_kind(&e))),
    };
    HttpOutcome::new(started, status, bytes, error)
}

fn ureq_kind(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timeout".into(),
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => "connect".into(),
        ureq::Error::Io(io) => io_kind(io),
        _ => "io".into(),
    }
}

/// One GET on the event loop; `http2` says which protocol the answer must have come in.
async fn get_async(client: &reqwest::Client, url: &str, http2: bool) -> HttpOutcome {
    let started = Instant::now();
    let (status, bytes, error) = match client.get(url).send().await {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let mut bytes = 0u64;
            let mut error =
                (!answered_in(response.version(), http2)).then(|| "protocol".to_string());
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => bytes += chunk.len() as u64,
                    Ok(None) => break,
                    Err(e) => {
                        error = error.or(Some(reqwest_kind(&e, http2)));
                        break;
                    }
                }
            }
            (Some(status), bytes, error)
        }
        Err(e) => (None, 0, Some(reqwest_kind(&e, http2))),
    };
    HttpOutcome::new(started, status, bytes, error)
}

/// Whether an answer came in a version the request allows: HTTP/2 when asked for it;
/// otherwise HTTP/1.1 or HTTP/1.0, which is a valid answer to an HTTP/1.1 request (RFC
/// 9110, section 6.2) and what many small servers send.
fn answered_in(version: reqwest::Version, http2: bool) -> bool {
    if http2 {
        version == reqwest::Version::HTTP_2
    } else {
        version == reqwest::Version::HTTP_11 || version == reqwest::Version::HTTP_10
    }
}

/// The kind of a failed async request. An answer that does not parse as the HTTP version
/// asked for is `protocol`: in HTTP/2 mode a server that speaks only HTTP/1 answers the
/// connection preface with text that no HTTP/2 frame parses, and the connection is torn
/// down with an HTTP/2 error rather than an IO one.
fn reqwest_kind(e: &reqwest::Error, http2: bool) -> String {
    if e.is_timeout() {
        return "timeout".into();
    }
    if e.is_connect() {
        return "connect".into();
    }
    let chain = || std::iter::successors(std::error::Error::source(e), |s| s.source());
    if let Some(io) = chain().find_map(|s| s.downcast_ref::<std::io::Error>()) {
        return io_kind(io);
    }
    let protocol = chain()
        .filter_map(|s| s.downcast_ref::<hyper::Error>())
        .any(|h| is_protocol(h, http2));
    if protocol { "protocol" } else { "io" }.into()
}

/// The per-repetition client state of async models.
enum AsyncClient {
    /// The embedded server: hyper's connection API (see [`super::http_loop`]).
    Loop(Box<LoopClient>),
    Reqwest(reqwest::Client),
    /// `async_blocking`: a synchronous client called from inside the event loop.
    Blocking(ureq::Agent),
}

impl Workload for Http {
    fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    fn start_repetition(&self) {
        // A fresh client each repetition: every repetition starts with no open connection.
        if self.loop_client().is_none()
            && let Ok(mut next) = self.next_client.lock()
        {
            *next = Some(self.async_client());
        }
    }

    fn run_blocking(&self, task: usize, worker: &mut Worker<'_>) -> TaskResult {
        if worker.local.as_ref().is_none_or(|l| !l.is::<ureq::Agent>()) {
            worker.local = Some(Box::new(self.agent()));
        }
        let agent = worker
            .local
            .as_ref()
            .and_then(|l| l.downcast_ref::<ureq::Agent>())
            .expect("set above");
        let url = self.url(task);
        worker
            .outside_lock(|| get_blocking(agent, &url))
            .into_result()
    }

    fn run_async<'a>(&'a self, task: usize, worker: &'a AsyncWorker) -> TaskFuture<'a> {
        Box::pin(async move {
            let client = worker.local.get_or_init(|| {
                Box::new(if worker.blocking {
                    AsyncClient::Blocking(self.agent())
                } else if let Some(client) = self.loop_client() {
                    AsyncClient::Loop(Box::new(client))
                } else {
                    let prepared = self.next_client.lock().ok().and_then(|mut c| c.take());
                    AsyncClient::Reqwest(prepared.unwrap_or_else(|| self.async_client()))
                })
            });
            let url = self.url(task);
            match client.downcast_ref::<AsyncClient>() {
                Some(AsyncClient::Loop(c)) => {
                    let path = url.find("/delay/").map_or("/", |at| &url[at..]);
                    let started = Instant::now();
                    let (status, bytes, error) = c.get(path).await;
                    HttpOutcome::new(started, status, bytes, error).into_result()
                }
                Some(AsyncClient::Reqwest(c)) => {
                    get_async(c, &url, self.c.http2).await.into_result()
                }
                Some(AsyncClient::Blocking(agent)) => get_blocking(agent, &url).into_result(),
                None => TaskResult::error("no HTTP client"),
            }
        })
    }

    fn verify(&self, records: &[TaskRecord]) -> Verdict {
        verify_requests(records)
    }
}

/// What a request gave, as the verdict counts it: `200`, `503` (a status error),
/// `200+io` (an error after the status), `timeout`.
pub fn outcome_key(h: &HttpOutcome) -> String {
    match (&h.error, h.status) {
        (Some(e), Some(s)) if e == "status" => s.to_string(),
        (Some(e), Some(s)) => format!("{s}+{e}"),
        (Some(e), None) => e.clone(),
        (None, Some(s)) => s.to_string(),
        (None, None) => "none".into(),
    }
}

/// Counts statuses and error kinds: `200:48 503:2 timeout:1`; any failure fails the cell.
pub fn verify_requests(records: &[TaskRecord]) -> Verdict {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed = 0;
    for r in records {
        let key = match &r.result.output {
            Output::Http(h) => outcome_key(h),
            Output::Error(e) => e.clone(),
            _ => "none".into(),
        };
        if !r.result.ok {
            failed += 1;
        }
        *counts.entry(key).or_default() += 1;
    }
    let detail = counts
        .iter()
        .map(|(k, n)| format!("{k}:{n}"))
        .collect::<Vec<_>>()
        .join(" ");
    if failed > 0 {
        Verdict::fail(detail)
    } else {
        Verdict::pass(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(jitter_ms: u64, error_rate: f64) -> HttpConfig {
        HttpConfig {
            tasks: 1000,
            urls: None,
            latency: Duration::from_millis(100),
            jitter: Duration::from_millis(jitter_ms),
            body_bytes: 10,
            error_rate,
            request_timeout: Duration::from_secs(1),
            http2: false,
        }
    }

    #[test]
    fn embedded_urls_carry_delay_size_and_status() {
        let c = config(0, 0.0);
        assert_eq!(
            c.url(3, Some("http://127.0.0.1:9")),
            "http://127.0.0.1:9/delay/100ms?bytes=10&status=200"
        );
    }

    #[test]
    fn jitter_and_errors_follow_the_configured_rates() {
        let c = config(20, 0.2);
        let urls: Vec<String> = (0..1000).map(|t| c.url(t, Some("http://x"))).collect();
        let errors = urls.iter().filter(|u| u.ends_with("status=503")).count();
        assert!((150..250).contains(&errors), "{errors} of 1000 at rate 0.2");
        assert!(
            urls.iter().any(|u| u.contains("/delay/8"))
                && urls.iter().any(|u| u.contains("/delay/11"))
        );
        assert_eq!(
            urls,
            (0..1000)
                .map(|t| c.url(t, Some("http://x")))
                .collect::<Vec<_>>(),
            "deterministic"
        );
    }

    #[test]
    fn real_urls_are_cycled() {
        let mut c = config(0, 0.0);
        c.urls = Some(vec!["http://a/".into(), "http://b/".into()]);
        assert_eq!(c.url(3, None), "http://b/");
    }

    #[test]
    fn http10_and_http11_answer_an_http11_request_and_only_http2_an_http2_one() {
        use reqwest::Version;
        for v in [Version::HTTP_10, Version::HTTP_11] {
            assert!(answered_in(v, false), "{v:?}");
            assert!(!answered_in(v, true), "{v:?}");
        }
        assert!(answered_in(Version::HTTP_2, true));
        assert!(!answered_in(Version::HTTP_2, false));
        assert!(!answered_in(Version::HTTP_09, false));
    }

    #[test]
    fn verdict_counts_statuses_and_errors() {
        let rec = |status: Option<u16>, error: Option<&str>| TaskRecord {
            task: 0,
            lane: 0,
            start_s: 0.0,
            end_s: 0.0,
            result: HttpOutcome {
                status,
                bytes: 0,
                latency_s: 0.0,
                error: error.map(String::from),
            }
            .into_result(),
        };
        let ok = verify_requests(&[rec(Some(200), None), rec(Some(200), None)]);
        assert_eq!(
            (ok.check, ok.detail.as_str()),
            (super::super::Check::Pass, "200:2")
        );
        let bad = verify_requests(&[
            rec(Some(200), None),
            rec(Some(503), Some("status")),
            rec(None, Some("timeout")),
        ]);
        assert_eq!(
            (bad.check, bad.detail.as_str()),
            (super::super::Check::Fail, "200:1 503:1 timeout:1")
        );
    }
}
