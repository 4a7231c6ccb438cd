//! The ideal bound of a cell: the least wall time its model could reach on this machine.
//!
//! With `c_w` tasks allowed to wait at once and `p = min(c_cpu, cores)` allowed to compute
//! at once (see [`crate::model::Model::concurrency`]), a task costing `cpu` seconds of computing and
//! `wait` seconds of waiting gives
//! `max(ceil(tasks / p) * cpu, ceil(tasks / c_w) * (cpu + wait))`. A lock every task
//! holds for `locked` of its wait (the mutex counter) adds a bound of its own: the first
//! holder's whole task plus every other task's turn on the lock,
//! `cpu + wait + (tasks - 1) * locked` (`tasks * wait` for the counter alone).

use crate::experiment::Cell;
use crate::model::Concurrency;
use crate::workload::{Calibration, TaskCost};

/// The ideal bound of `cell` on a machine of `cores`; None where it cannot be known (a
/// model whose scheduling conclab cannot know, real URLs not yet measured).
pub fn of_cell(cell: &Cell, calibration: &Calibration, cores: usize) -> Option<f64> {
    let tasks = cell.workload.tasks();
    let cost = cell.workload.cost(calibration)?;
    let c = cell.model.concurrency(cell.workers, tasks)?;
    Some(ideal_seconds(c, tasks, cost, cores))
}

pub fn ideal_seconds(c: Concurrency, tasks: usize, cost: TaskCost, cores: usize) -> f64 {
    if tasks == 0 {
        return 0.0;
    }
    let p = c.cpu.min(cores.max(1)).max(1);
    let rounds = |k: usize| tasks.div_ceil(k.max(1)) as f64;
    let compute = rounds(p) * cost.cpu_s;
    let overlapped = rounds(c.waits) * (cost.cpu_s + cost.wait_s);
    let locked = if cost.locked_s > 0.0 {
        cost.cpu_s + cost.wait_s + (tasks - 1) as f64 * cost.locked_s
    } else {
        0.0
    };
    compute.max(overlapped).max(locked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelKind;

    fn ideal_seconds(
        model: ModelKind,
        workers: usize,
        tasks: usize,
        cost: TaskCost,
        cores: usize,
    ) -> f64 {
        super::ideal_seconds(model.concurrency(workers, tasks), tasks, cost, cores)
    }

    const WAIT: TaskCost = TaskCost {
        cpu_s: 0.0,
        wait_s: 0.05,
        locked_s: 0.0,
    };
    const CPU: TaskCost = TaskCost {
        cpu_s: 1.0,
        wait_s: 0.0,
        locked_s: 0.0,
    };

    #[test]
    fn waits_divide_by_the_concurrency_the_model_allows() {
        assert_eq!(
            ideal_seconds(ModelKind::Sequential, 1, 10, WAIT, 2),
            10.0 * 0.05
        );
        assert_eq!(
            ideal_seconds(ModelKind::ThreadPool, 100, 1000, WAIT, 2),
            10.0 * 0.05
        );
        assert_eq!(ideal_seconds(ModelKind::Async, 1000, 1000, WAIT, 2), 0.05);
        assert_eq!(ideal_seconds(ModelKind::Threads, 5, 5, WAIT, 2), 0.05);
        assert_eq!(
            ideal_seconds(ModelKind::AsyncBlocking, 100, 10, WAIT, 2),
            10.0 * 0.05
        );
        assert_eq!(
            ideal_seconds(ModelKind::GilThreads, 10, 100, WAIT, 2),
            10.0 * 0.05
        );
        assert_eq!(
            ideal_seconds(ModelKind::AsyncToThread, 2, 10, WAIT, 2),
            5.0 * 0.05,
            "every wait holds one of the W threads"
        );
    }

    #[test]
    fn computing_is_capped_by_cores() {
        assert_eq!(ideal_seconds(ModelKind::Sequential, 1, 6, CPU, 2), 6.0);
        assert_eq!(ideal_seconds(ModelKind::ThreadPool, 2, 6, CPU, 2), 3.0);
        assert_eq!(ideal_seconds(ModelKind::ThreadPool, 6, 6, CPU, 2), 3.0);
        assert_eq!(ideal_seconds(ModelKind::Rayon, 3, 6, CPU, 8), 2.0);
        assert_eq!(ideal_seconds(ModelKind::AsyncToThread, 6, 6, CPU, 2), 3.0);
        assert_eq!(
            ideal_seconds(ModelKind::Async, 6, 6, CPU, 2),
            6.0,
            "one event loop computes alone"
        );
        assert_eq!(
            ideal_seconds(ModelKind::GilThreads, 6, 6, CPU, 2),
            6.0,
            "the lock serialises computing"
        );
    }

    #[test]
    fn mixed_and_serial() {
        let mixed = TaskCost {
            cpu_s: 0.1,
            wait_s: 0.4,
            locked_s: 0.0,
        };
        // 10 tasks, 2 cores, 10 threads: the waits overlap, the computing needs 5 rounds.
        assert!((ideal_seconds(ModelKind::Threads, 10, 10, mixed, 2) - 0.5).abs() < 1e-12);
        assert!((ideal_seconds(ModelKind::Sequential, 1, 10, mixed, 2) - 5.0).abs() < 1e-12);
        let locked = TaskCost {
            cpu_s: 0.0,
            wait_s: 1.0,
            locked_s: 1.0,
        };
        assert_eq!(ideal_seconds(ModelKind::ThreadPool, 5, 10, locked, 2), 10.0);
        // A task of steps: 0.1 s of requests, then 0.01 s on the lock. Threads overlap
        // the requests; the locked parts queue behind the first.
        let steps = TaskCost {
            cpu_s: 0.0,
            wait_s: 0.11,
            locked_s: 0.01,
        };
        assert!((ideal_seconds(ModelKind::Threads, 10, 10, steps, 2) - 0.2).abs() < 1e-12);
        assert!((ideal_seconds(ModelKind::Sequential, 1, 10, steps, 2) - 1.1).abs() < 1e-12);
    }
}
