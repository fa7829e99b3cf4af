//! The processor's fp32 peak, measured (the bound `repro bench` reports achieved GFLOP/s against).

use std::time::Instant;

/// The processor's fp32 peak in GFLOP/s on `threads` threads, measured: each thread runs
/// independent chains of fused multiply-adds on the widest vectors it has, so the count is
/// limited by the FMA units alone (2 FLOPs per lane per FMA); the best of three rounds. Measure
/// it on idle cores: rayon's threads spin for a while after their work, and a measurement taken
/// just after some read one core's worth (117 GFLOP/s where two cores give 233).
pub fn fp32_peak_gflops(threads: usize) -> f64 {
    (0..3)
        .map(|_| peak_round(threads.max(1)))
        .fold(0.0, f64::max)
}

fn peak_round(threads: usize) -> f64 {
    let per_thread = 100_000_000u64 / 16; // iterations: ~0.05-0.25 s per thread
    let started = Instant::now();
    let flops: f64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| scope.spawn(move || fma_chains(per_thread)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or(0.0))
            .sum()
    });
    flops / started.elapsed().as_secs_f64() / 1e9
}

/// FLOPs of `iterations` rounds of 12 independent vector FMA chains (the result is kept alive).
fn fma_chains(iterations: u64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was detected above.
            return unsafe { x86::fma512(iterations) };
        }
        if std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx")
        {
            // SAFETY: the features were detected above.
            return unsafe { x86::fma256(iterations) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: NEON is part of the aarch64 baseline.
        return unsafe { arm::fma128(iterations) };
    }
    #[allow(unreachable_code)]
    scalar_chains(iterations)
}

fn scalar_chains(iterations: u64) -> f64 {
    let mut acc = [1.0f32; 12];
    let (a, b) = (
        std::hint::black_box(0.999_99f32),
        std::hint::black_box(1e-6f32),
    );
    for _ in 0..iterations {
        for x in &mut acc {
            *x = x.mul_add(a, b);
        }
    }
    std::hint::black_box(acc);
    iterations as f64 * 12.0 * 2.0
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma512(iterations: u64) -> f64 {
        let a = _mm512_set1_ps(std::hint::black_box(0.999_99));
        let b = _mm512_set1_ps(std::hint::black_box(1e-6));
        let mut acc = [_mm512_set1_ps(1.0); 12];
        for _ in 0..iterations {
            for x in &mut acc {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        std::hint::black_box(acc);
        iterations as f64 * 12.0 * 16.0 * 2.0
    }

    #[target_feature(enable = "avx,fma")]
    pub unsafe fn fma256(iterations: u64) -> f64 {
        let a = _mm256_set1_ps(std::hint::black_box(0.999_99));
        let b = _mm256_set1_ps(std::hint::black_box(1e-6));
        let mut acc = [_mm256_set1_ps(1.0); 12];
        for _ in 0..iterations {
            for x in &mut acc {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        std::hint::black_box(acc);
        iterations as f64 * 12.0 * 8.0 * 2.0
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::*;

    #[target_feature(enable = "neon")]
    pub unsafe fn fma128(iterations: u64) -> f64 {
        let a = vdupq_n_f32(std::hint::black_box(0.999_99));
        let b = vdupq_n_f32(std::hint::black_box(1e-6));
        let mut acc = [vdupq_n_f32(1.0); 12];
        for _ in 0..iterations {
            for x in &mut acc {
                *x = vfmaq_f32(b, *x, a);
            }
        }
        std::hint::black_box(acc);
        iterations as f64 * 12.0 * 4.0 * 2.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_peak_is_at_least_one_fma_per_nanosecond() {
        assert!(super::fp32_peak_gflops(1) > 1.0);
    }
}
