//! The elementary functions the kernels need, as plain arithmetic that LLVM vectorises (no libm
//! call in the loop), and [`simd_dispatch!`], which compiles a loop once per instruction set and
//! picks the widest the processor has at run time.
//!
//! `exp` follows Cephes' `expf` (range reduction by ln 2, a degree-5 polynomial, ~1 ulp);
//! `erf` is Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7 in exact arithmetic, 4.6e-7
//! measured in f32), the formula PyTorch's own vectorised CPU `erf` uses.

/// Compiles `fn name(args) -> ret { body }` three times — for AVX-512, for AVX2 with FMA, and for
/// the baseline — and calls the widest the processor supports (checked once, then cached by
/// `std`). The body is ordinary scalar Rust: LLVM vectorises it for each instruction set. Floating
/// point is never reassociated, so a reduction vectorises only when written with independent
/// accumulators, and each instruction set always gives the same bits on a given input.
#[macro_export]
#[doc(hidden)]
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn imp($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
                unsafe fn v4($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn v3($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                match $crate::cpu::math::level() {
                    // SAFETY: the level is what the processor reported.
                    $crate::cpu::math::Level::V4 => return unsafe { v4($($arg),*) },
                    $crate::cpu::math::Level::V3 => return unsafe { v3($($arg),*) },
                    $crate::cpu::math::Level::Baseline => {}
                }
            }
            imp($($arg),*)
        }
    };
}

/// The instruction sets [`simd_dispatch!`] compiles for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// AVX-512 (F, VL, BW, DQ).
    V4,
    /// AVX2 with FMA.
    V3,
    /// Whatever the target compiles for by default (SSE2 on x86-64, NEON on aarch64).
    Baseline,
}

/// The widest level this processor runs, or a narrower one `REPRO_SIMD` asks for (`avx2`,
/// `baseline`: to check on one machine what another processor would compute).
#[inline]
pub fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let widest = widest();
        match std::env::var("REPRO_SIMD").as_deref() {
            Ok("baseline") => Level::Baseline,
            Ok("avx2") if widest != Level::Baseline => Level::V3,
            _ => widest,
        }
    })
}

fn widest() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::V4;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::V3;
        }
    }
    Level::Baseline
}

/// `exp(x)` in f32: exactly 0 below -87.3 (where f32 underflows; a masked score of -1e9 gives
/// weight 0), saturating at `exp(88)` above.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding it rounds to the nearest integer, which then sits in the low bits.
    const ROUND: f32 = 12_582_912.0;
    let clamped = x.clamp(-87.336_55, 88.0);
    let shifted = clamped * LOG2E + ROUND;
    let n = shifted - ROUND;
    let k = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5; // Cephes' 5.0000001201e-1, which rounds to 0.5 in f32
    let y = p * (r * r) + r + 1.0;
    let scale = f32::from_bits(((k + 127) << 23) as u32);
    if x < -87.336_55 { 0.0 } else { y * scale }
}

/// `erf(x)` (Abramowitz & Stegun 7.1.26; absolute error ≤ 5e-7 in f32).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_72;
    const A3: f32 = 1.421_413_8;
    const A4: f32 = -1.453_152_1;
    const A5: f32 = 1.061_405_4;
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t;
    let y = 1.0 - poly * exp(-a * a);
    if x < 0.0 { -y } else { y }
}

/// `tanh(x)` through `exp`: `1 - 2 / (e^{2x} + 1)`, odd by construction.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let y = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    if x < 0.0 { -y } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(from: f64, to: f64, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| (from + (to - from) * i as f64 / n as f64) as f32)
    }

    #[test]
    fn exp_is_within_two_ulp_of_the_exact_value() {
        for x in grid(-87.0, 88.0, 200_000) {
            let exact = (x as f64).exp();
            let got = exp(x) as f64;
            let ulp = (exact as f32).abs() as f64 * f32::EPSILON as f64;
            assert!(
                (got - exact).abs() <= 2.0 * ulp.max(f32::MIN_POSITIVE as f64),
                "exp({x}) = {got}, exact {exact}"
            );
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1.0e9), 0.0);
        assert_eq!(exp(-88.0), 0.0);
        assert!(exp(1.0e9).is_finite());
    }

    #[test]
    fn erf_and_tanh_match_f64_within_their_bounds() {
        let (mut worst_erf, mut worst_tanh) = (0f64, 0f64);
        for x in grid(-6.0, 6.0, 100_000) {
            worst_erf = worst_erf.max((erf(x) as f64 - libm_erf(x as f64)).abs());
            worst_tanh = worst_tanh.max((tanh(x) as f64 - (x as f64).tanh()).abs());
        }
        // Measured: erf 4.6e-7 (A&S's 1.5e-7 plus f32 rounding), tanh 1.1e-7.
        assert!(worst_erf < 5e-7, "erf: {worst_erf:e}");
        assert!(worst_tanh < 2e-7, "tanh: {worst_tanh:e}");
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(-2.0), -erf(2.0));
    }

    /// erf in f64 by its Taylor series (|x| ≤ 3) or continued fraction tail: the reference.
    fn libm_erf(x: f64) -> f64 {
        if x.abs() > 3.0 {
            // erfc(x) ~ e^{-x²}/(x√π) · (1 - 1/(2x²) + 3/(4x⁴) - 15/(8x⁶)), ample for |x| > 3
            let x2 = x * x;
            let tail = (-x2).exp() / (x.abs() * std::f64::consts::PI.sqrt())
                * (1.0 - 1.0 / (2.0 * x2) + 3.0 / (4.0 * x2 * x2) - 15.0 / (8.0 * x2 * x2 * x2));
            return x.signum() * (1.0 - tail);
        }
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }
}
