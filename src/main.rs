use clap::Parser;

fn main() {
    let cli = conclab::cli::Cli::parse();
    std::process::exit(conclab::app::main(cli));
}
