//! `repro`: reproduce landmark NLP/LLM papers at small scale. A thin binary: everything lives in
//! the `repro_harness` library, and this maps its result to an exit code.

/// See harness/Cargo.toml: tensors' pages reused, not zeroed again by the kernel each step.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`: its index in mimalloc.h's `mi_option_e` (v3, as libmimalloc-sys 0.1.49
/// builds it; `MIMALLOC_VERBOSE=1` lists the options in that order). The binding has no constant.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() {
    // Never hand freed pages back to the kernel: a training step frees and allocates the same
    // tensors again at once, and purged pages come back zeroed at a page fault each (measured:
    // GPT training 12 % slower with mimalloc's default 1 s delay; peak memory the same).
    // SAFETY: sets a process-wide option before any thread is started.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let code = repro_harness::run(
        std::env::args_os(),
        &mut std::io::stdin().lock(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::exit(code);
}
