//! `repro`: reproduce landmark NLP/LLM papers at small scale. A thin binary: everything lives in
//! the `repro_harness` library, and this maps its result to an exit code.

fn main() {
    let code = repro_harness::run(
        std::env::args_os(),
        &mut std::io::stdin().lock(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::exit(code);
}
