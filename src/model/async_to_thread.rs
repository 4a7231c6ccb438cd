//! `async_to_thread`: async tasks on one event loop that hand every blocking call to a pool
//! of W threads and await it, the fix for a blocking call inside async (`asyncio.to_thread`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, channel};

use super::async_loop::Tasks;
use super::descriptor::{Descriptor, Rgb, RustModel, Workers, pool};
use super::{Execution, Job, PoolStart, Scheduler, panic_message, start_pool};
use crate::workload::{BlockingCall, CallDone, TaskRecord, TaskResult, ToThread, Worker};

pub static MODEL: RustModel = RustModel {
    // Every blocking call runs on one of W threads, as in a thread pool.
    about: Descriptor::conclab(Workers::Taken, pool, Rgb(110, 70, 170)),
    scheduler: &AsyncToThread,
};

pub struct AsyncToThread;

impl Scheduler for AsyncToThread {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (calls, queue) = channel::<BlockingCall>();
        // Our own pool rather than tokio's blocking pool: its W threads start before the
        // clock of the tasks does (as `thread_pool`'s), and each keeps one Worker, so a
        // thread reuses its HTTP agent from call to call.
        let queue = Mutex::new(queue);
        let started = PoolStart::default();
        std::thread::scope(|scope| {
            // Dropped on every way out of this closure, unwinding too: the pool threads
            // end when the last sender is gone.
            let calls = calls;
            let queue = &queue;
            let handles = start_pool(scope, &started, job.workers, "to-thread", move |lane| {
                let mut worker = Worker::new(lane, job.cancel);
                while let Some(call) = next_call(queue) {
                    serve(call, &mut worker, job);
                }
                Vec::new()
            })?;
            started.open(handles.len());
            let setup = job.epoch.elapsed();
            let epoch = job.epoch;
            let records = runtime.block_on(async {
                let mut tasks = Tasks::default();
                for task in 0..job.workload.tasks() {
                    let workload = job.workload.clone();
                    let to_thread = ToThread::new(calls.clone(), job.cancel.clone());
                    tasks
                        .spawn(task, async move {
                            let result = if to_thread.cancelled() {
                                TaskResult::cancelled()
                            } else {
                                workload.run_to_thread(task, &to_thread).await
                            };
                            let end_s = epoch.elapsed().as_secs_f64();
                            // The span is the task's time on the threads and between its
                            // calls, not its wait in the queue for a first free thread.
                            let (start_s, lane) = to_thread.first_call().unwrap_or((end_s, 0));
                            TaskRecord {
                                task,
                                lane,
                                start_s,
                                end_s,
                                result,
                            }
                        })
                        .await;
                }
                tasks.collect(epoch).await
            });
            drop(calls);
            for h in handles {
                let _ = h.join();
            }
            Ok(Execution {
                setup,
                records,
                ..Default::default()
            })
        })
    }
}

/// The next call for a pool thread; None once every sender is gone.
fn next_call(queue: &Mutex<Receiver<BlockingCall>>) -> Option<BlockingCall> {
    queue.lock().unwrap_or_else(|e| e.into_inner()).recv().ok()
}

/// Runs one call on a pool thread. A call that panics gives a failed result with the
/// panic's message; the thread goes on with the next call.
fn serve(call: BlockingCall, worker: &mut Worker<'_>, job: &Job<'_>) {
    let start_s = job.epoch.elapsed().as_secs_f64();
    let result = if job.cancel.is_set() {
        TaskResult::cancelled()
    } else {
        let f = call.call;
        catch_unwind(AssertUnwindSafe(|| f(worker)))
            .unwrap_or_else(|payload| TaskResult::error(panic_message(payload.as_ref())))
    };
    // The task may be gone (its repetition ended): nobody waits for this answer then.
    let _ = call.reply.send(CallDone {
        result,
        lane: worker.lane,
        start_s,
    });
}
