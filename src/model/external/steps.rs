//! Every workload as the protocol's lists of steps: what task `t` does, handed to a
//! program that runs it its own way. Each kind states its tasks as parts; this maps them.

use super::wire::Step;
use crate::workload::counter::CounterSync;
use crate::workload::{BuildEnv, WorkloadConfig};

/// The steps of task `task`: exactly what conclab's own models do for it (the same
/// input, the same URL with its latency, jitter and status drawn from the task number).
pub fn task_steps(config: &WorkloadConfig, task: usize, env: &BuildEnv) -> Vec<Step> {
    config.parts(task, env)
}

/// How the shared counter is synchronised, when a task has a counter step (the run
/// line's `counter`).
pub fn counter_sync(config: &WorkloadConfig) -> Option<CounterSync> {
    config.shared_sync()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::workload::counter::CounterConfig;
    use crate::workload::hash_chain::HashChainConfig;
    use crate::workload::hash_chain::SEED_INPUTS;
    use crate::workload::http::HttpConfig;
    use crate::workload::mixed::MixedConfig;
    use crate::workload::sleep::SleepConfig;

    fn env() -> BuildEnv {
        BuildEnv {
            server_url: Some("http://127.0.0.1:4000".into()),
        }
    }

    #[test]
    fn sleeps_and_counters_are_one_step() {
        let sleep = WorkloadConfig::Sleep(SleepConfig {
            tasks: 3,
            duration: Duration::from_millis(250),
        });
        assert_eq!(
            task_steps(&sleep, 2, &env()),
            [Step::Sleep { seconds: 0.25 }]
        );
        assert_eq!(counter_sync(&sleep), None);
        let counter = WorkloadConfig::Counter(CounterConfig {
            tasks: 10,
            wait: Duration::from_millis(10),
            sync: CounterSync::Mutex,
            increments: 1,
        });
        assert_eq!(
            task_steps(&counter, 9, &env()),
            [Step::Counter {
                wait_s: 0.01,
                increments: 1
            }]
        );
        assert_eq!(counter_sync(&counter), Some(CounterSync::Mutex));
    }

    #[test]
    fn chains_cycle_their_inputs_as_the_rust_models_do() {
        let chains = WorkloadConfig::HashChain(HashChainConfig {
            inputs: vec!["pass".into(), "π".into()],
            iterations: 1000,
            tasks: 5,
            expect: Default::default(),
        });
        let input = |t| match &task_steps(&chains, t, &env())[..] {
            [
                Step::Hash {
                    input,
                    iterations: 1000,
                },
            ] => input.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!([input(0), input(1), input(4)], ["pass", "π", "pass"]);
        let mixed = WorkloadConfig::Mixed(MixedConfig {
            tasks: 8,
            iterations: 50,
            duration: Duration::from_millis(20),
        });
        assert_eq!(
            task_steps(&mixed, 7, &env()),
            [
                Step::Hash {
                    input: SEED_INPUTS[7 % SEED_INPUTS.len()].into(),
                    iterations: 50
                },
                Step::Sleep { seconds: 0.02 }
            ]
        );
    }

    #[test]
    fn requests_go_to_the_very_url_the_rust_models_request() {
        let c = HttpConfig {
            tasks: 100,
            urls: None,
            latency: Duration::from_millis(200),
            jitter: Duration::from_millis(50),
            body_bytes: 1024,
            error_rate: 0.1,
            request_timeout: Duration::from_secs(10),
            http2: false,
        };
        let http = WorkloadConfig::Http(c.clone());
        for task in [0, 1, 17, 99] {
            assert_eq!(
                task_steps(&http, task, &env()),
                [Step::Http {
                    url: c.url(task, Some("http://127.0.0.1:4000")),
                    timeout_s: 10.0,
                    http2: false
                }]
            );
        }
        let Step::Http { url, .. } = &task_steps(&http, 3, &env())[0] else {
            unreachable!()
        };
        assert!(url.starts_with("http://127.0.0.1:4000/delay/"), "{url}");
    }
}
