//! `http` with real `urls`: against a plain HTTP server this test starts itself on 127.0.0.1.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Lab, code, stderr};

/// A minimal keep-alive HTTP/1.1 server: `/ok` answers 200 with 5 bytes, `/missing` 404,
/// `/redirect` 302 to `/ok`, `/hang` answers after 3 s. Returns its port and a request counter.
fn plain_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let served = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let served = served.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    served.fetch_add(1, Ordering::SeqCst);
                    let path = request_line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or("/")
                        .to_string();
                    let response = match path.as_str() {
                        "/ok" => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_string(),
                        "/hang" => {
                            // Longer than the experiment's request_timeout.
                            std::thread::sleep(std::time::Duration::from_secs(3));
                            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_string()
                        }
                        "/redirect" => {
                            "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n"
                                .to_string()
                        }
                        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string(),
                    };
                    if stream.write_all(response.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, count)
}

#[test]
fn urls_are_fetched_by_every_model_and_redirects_followed() {
    let (port, served) = plain_server();
    let lab = Lab::new();
    lab.write(
        "u.toml",
        &format!(
            "repetitions = 1\n[workload]\nkind = \"http\"\ntasks = 6\nurls = [\"http://127.0.0.1:{port}/ok\", \"http://127.0.0.1:{port}/redirect\"]\n[matrix]\nmodel = [\"sequential\", \"threads\", \"thread_pool\", \"rayon\", \"async\", \"async_pool\", \"async_blocking\"]\nworkers = [2]\n"
        ),
    );
    let out = lab.run(&["u.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let runs = lab.csv("results/u/runs.csv");
    assert_eq!(runs.rows.len(), 7);
    assert!(
        runs.column("detail").iter().all(|d| *d == "200:6"),
        "{:?}",
        runs.column("detail")
    );
    // 3 plain + 3 redirected requests (each redirect is two requests) per model
    assert_eq!(served.load(Ordering::SeqCst), 7 * 9);
    let tasks = lab.csv("results/u/tasks.csv");
    assert!(tasks.column("status").iter().all(|s| *s == "200"));
    assert!(tasks.column("bytes").iter().all(|b| *b == "5"));
    // ideal_s for real URLs comes from the sequential cell's measured latency
    let ideal = runs.column("ideal_s");
    assert!(
        ideal[1..].iter().all(|i| i.parse::<f64>().is_ok()),
        "{ideal:?}"
    );
}

#[test]
fn a_404_a_refused_port_and_a_timeout_fail_with_their_kinds() {
    let (port, _) = plain_server();
    // A port that was free a moment ago: nothing listens there now.
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lab = Lab::new();
    lab.write(
        "e.toml",
        &format!(
            "repetitions = 1\n[workload]\nkind = \"http\"\nrequest_timeout = \"300ms\"\nurls = [\"http://127.0.0.1:{port}/ok\", \"http://127.0.0.1:{port}/missing\", \"http://127.0.0.1:{refused}/\", \"http://127.0.0.1:{port}/hang\"]\n[matrix]\nmodel = [\"thread_pool\", \"async\"]\nworkers = [4]\n"
        ),
    );
    let out = lab.run(&["e.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let runs = lab.csv("results/e/runs.csv");
    assert_eq!(runs.rows.len(), 2, "both cells ran");
    for d in runs.column("detail") {
        assert_eq!(d, "200:1 404:1 connect:1 timeout:1");
    }
    assert!(runs.column("check").iter().all(|c| *c == "fail"));
    let tasks = lab.csv("results/e/tasks.csv");
    let errors: Vec<&str> = tasks.column("error");
    assert_eq!(errors.iter().filter(|e| **e == "status").count(), 2);
    assert_eq!(errors.iter().filter(|e| **e == "connect").count(), 2);
    assert_eq!(errors.iter().filter(|e| **e == "timeout").count(), 2);
}

#[test]
fn http2_against_a_server_that_speaks_only_http1_fails_every_request() {
    let (port, _) = plain_server();
    let lab = Lab::new();
    lab.write(
        "v.toml",
        &format!(
            "repetitions = 1\n[workload]\nkind = \"http\"\ntasks = 3\nhttp_version = \"2\"\nrequest_timeout = \"2s\"\nurls = [\"http://127.0.0.1:{port}/ok\"]\n[matrix]\nmodel = [\"async\"]\nworkers = [3]\n"
        ),
    );
    let out = lab.run(&["v.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let runs = lab.csv("results/v/runs.csv");
    assert_eq!(runs.column("check"), ["fail"]);
    let tasks = lab.csv("results/v/tasks.csv");
    assert!(
        tasks.column("ok").iter().all(|ok| *ok == "false"),
        "{:?}",
        tasks.column("error")
    );
}

/// A server that answers every request with `HTTP/1.0 200 OK` (or, on `/v11`, `HTTP/1.1`),
/// a Content-Length and a body, then closes the connection, as many small servers do.
fn http10_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let version = if request_line.contains(" /v11 ") {
                    "HTTP/1.1"
                } else {
                    "HTTP/1.0"
                };
                let response = format!("{version} 200 OK\r\nContent-Length: 7\r\n\r\nhello10");
                let _ = stream.write_all(response.as_bytes());
                // Close our side, then read whatever the client still sends until it closes:
                // closing with unread data would reset the connection before the client
                // has read the answer.
                let _ = stream.shutdown(std::net::Shutdown::Write);
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
            });
        }
    });
    port
}

#[test]
fn http10_answers_pass_in_http11_mode_for_blocking_and_async_models() {
    let port = http10_server();
    let lab = Lab::new();
    lab.write(
        "old.toml",
        &format!(
            "repetitions = 1\n[workload]\nkind = \"http\"\ntasks = 4\nurls = [\"http://127.0.0.1:{port}/\"]\n[matrix]\nmodel = [\"sequential\", \"thread_pool\", \"async\", \"async_pool\", \"async_blocking\"]\nworkers = [2]\n"
        ),
    );
    let out = lab.run(&["old.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let runs = lab.csv("results/old/runs.csv");
    assert_eq!(runs.rows.len(), 5);
    assert!(
        runs.column("detail").iter().all(|d| *d == "200:4"),
        "{:?}",
        runs.column("detail")
    );
    let tasks = lab.csv("results/old/tasks.csv");
    assert!(tasks.column("bytes").iter().all(|b| *b == "7"));
}

#[test]
fn http2_mode_reports_an_http1_answer_as_a_protocol_error() {
    let port = http10_server();
    let lab = Lab::new();
    lab.write(
        "two.toml",
        &format!(
            "repetitions = 1\n[workload]\nkind = \"http\"\ntasks = 2\nhttp_version = \"2\"\nrequest_timeout = \"2s\"\nurls = [\"http://127.0.0.1:{port}/v11\"]\n[matrix]\nmodel = [\"async\", \"async_pool\"]\nworkers = [2]\n"
        ),
    );
    let out = lab.run(&["two.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let runs = lab.csv("results/two/runs.csv");
    assert_eq!(runs.column("check"), ["fail", "fail"]);
    // Both requests share one HTTP/2 connection: the first meets the HTTP/1 answer and
    // fails as `protocol`; the second may instead find that connection torn down (`io`).
    assert!(
        runs.column("detail")
            .iter()
            .all(|d| d.contains("protocol:") && !d.contains("200")),
        "{:?}",
        runs.column("detail")
    );
}
