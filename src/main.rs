use clap::Parser;

/// mimalloc, not glibc's malloc: glibc grows each thread's arena a page at a time with
/// mprotect (3,200 calls in one repetition of 500 async GETs), which cost the event loop
/// about 8% of its HTTP time. See README, "How the models are built".
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = conclab::cli::Cli::parse();
    std::process::exit(conclab::app::main(cli));
}
