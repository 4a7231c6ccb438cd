//! The conclab command (the lead's CLI replaces this; `worker` is what the process pool starts).

fn main() -> anyhow::Result<()> {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|verb| verb == "worker")
    {
        return conclab::model::process_pool::worker_main();
    }
    anyhow::bail!("this build only has the hidden `worker` verb")
}
