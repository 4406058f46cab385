//! Exact noise: discrete Laplace samples on the integers, by Canonne, Kamath and Steinke's
//! algorithms ("The Discrete Gaussian for Differential Privacy", 2020, Algorithms 1 and 2), with
//! integer arithmetic only.
//!
//! Why integers: a mechanism that adds floating-point Laplace noise to a floating-point answer
//! leaks the answer through the gaps between representable floats (Mironov, 2012). Here every
//! answer is an integer (a count, or a sum of values rounded to a grid) before noise is added, the
//! noise is an exact integer sample whose probabilities are exactly those of the distribution, and
//! the parameters are exact rationals: ε is used as a whole number of [`EPSILON_UNIT`]ths, never
//! more than stated. Randomness comes from the OS's CSPRNG in use ([`os_rng`]); tests give a seeded
//! generator.

use rand::{Rng, RngExt};

/// ε is used in units of 2^-20: a stated ε becomes `floor(ε · 2^20)` units, so the noise is never
/// less than ε asks for, and budgets add up exactly.
pub const EPSILON_UNIT: u64 = 1 << 20;

/// The OS's cryptographically secure generator (getrandom), which a release's noise comes from.
pub(crate) fn os_rng() -> impl Rng {
    rand::rand_core::UnwrapErr(rand::rngs::SysRng)
}

/// A uniform integer below `d`, exactly (64-bit draws when `d` fits, the common case).
fn uniform(rng: &mut impl Rng, d: u128) -> u128 {
    match u64::try_from(d) {
        Ok(d) => u128::from(rng.random_range(0..d)),
        Err(_) => rng.random_range(0..d),
    }
}

/// `true` with probability `n / d` exactly (`0 <= n <= d`, `d >= 1`).
fn bernoulli(rng: &mut impl Rng, n: u128, d: u128) -> bool {
    uniform(rng, d) < n
}

/// `true` with probability `exp(-n / d)` exactly (Algorithm 1): for `n / d <= 1`, the parity of
/// the first `K` with a failed Bernoulli(`n / (d K)`); beyond 1, one `exp(-1)` trial per whole unit.
fn bernoulli_exp(rng: &mut impl Rng, n: u128, d: u128) -> bool {
    let mut n = n;
    while n > d {
        if !bernoulli_exp(rng, d, d) {
            return false;
        }
        n -= d;
    }
    let mut k: u128 = 1;
    while bernoulli(rng, n, d * k) {
        k += 1;
    }
    k % 2 == 1
}

/// A sample of the discrete Laplace distribution of scale `t / s` on the integers:
/// `P(z) = (1 - p) / (1 + p) · p^|z|` with `p = exp(-s / t)` (Algorithm 2).
///
/// A geometric `X` of parameter `exp(-1/t)` is built from a uniform remainder `U < t` (kept with
/// probability `exp(-U/t)`) and a count `V` of `exp(-1)` successes; `floor(X / s)` is then geometric
/// of parameter `exp(-s/t)`, given a random sign, with one of the two zeros rejected.
pub(crate) fn discrete_laplace(rng: &mut impl Rng, s: u128, t: u128) -> i128 {
    assert!(s >= 1 && t >= 1, "a discrete Laplace scale of {t}/{s}");
    loop {
        let u = uniform(rng, t);
        if !bernoulli_exp(rng, u, t) {
            continue;
        }
        let mut v: u128 = 0;
        while bernoulli_exp(rng, 1, 1) {
            v += 1;
        }
        let y = (u + t * v) / s;
        let negative = bernoulli(rng, 1, 2);
        if negative && y == 0 {
            continue;
        }
        let y = i128::try_from(y).unwrap_or(i128::MAX);
        return if negative { -y } else { y };
    }
}

/// Noise for an integer answer of L1 sensitivity `sensitivity` (whole units) under
/// `epsilon_units` of ε (at least one: a release plans its parts so), discrete Laplace of scale
/// `sensitivity / ε`.
pub(crate) fn noise(rng: &mut impl Rng, sensitivity: u64, epsilon_units: u64) -> i128 {
    assert!(epsilon_units >= 1, "noise planned with no ε");
    discrete_laplace(
        rng,
        u128::from(epsilon_units),
        u128::from(sensitivity.max(1)) * u128::from(EPSILON_UNIT),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::ChaCha20Rng;

    /// The chi-square statistic's critical value for `df` degrees of freedom at significance
    /// 0.001 (Wilson and Hilferty's approximation, z = 3.0902).
    fn chi_square_critical(df: f64) -> f64 {
        let z = 3.0902;
        let a = 2.0 / (9.0 * df);
        df * (1.0 - a + z * a.sqrt()).powi(3)
    }

    /// Pearson's chi-square statistic of `counts` against `expected` probabilities over `n`
    /// samples, pooling the bins expected to hold fewer than 5 into the last; and its degrees of
    /// freedom.
    fn chi_square(counts: &[u64], expected: &[f64], n: u64) -> (f64, f64) {
        let (mut stat, mut bins) = (0.0, 0);
        let (mut pooled_seen, mut pooled_expected) = (0.0, 0.0);
        for (&seen, &p) in counts.iter().zip(expected) {
            let e = p * n as f64;
            if e < 5.0 {
                pooled_seen += seen as f64;
                pooled_expected += e;
                continue;
            }
            stat += (seen as f64 - e).powi(2) / e;
            bins += 1;
        }
        if pooled_expected > 0.0 {
            stat += (pooled_seen - pooled_expected).powi(2) / pooled_expected;
            bins += 1;
        }
        (stat, (bins - 1) as f64)
    }

    /// The empirical distribution of 100,000 samples against the discrete Laplace pmf, for three
    /// scales, by Pearson's chi-square test at significance 0.001 (a correct sampler fails one
    /// such test in a thousand; the seeds are fixed, so the outcome is too).
    #[test]
    fn discrete_laplace_samples_follow_their_distribution() {
        for (seed, s, t) in [(1, 1u128, 1u128), (2, 1, 3), (3, 5, 2)] {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let n = 100_000u64;
            let p = (-(s as f64) / t as f64).exp();
            // Bins -40..=40, then the two tails together.
            let range = 40i128;
            let mut counts = vec![0u64; (2 * range + 2) as usize];
            for _ in 0..n {
                let z = discrete_laplace(&mut rng, s, t);
                let bin = if z.abs() > range {
                    counts.len() - 1
                } else {
                    (z + range) as usize
                };
                counts[bin] += 1;
            }
            let expected = |p: f64| {
                let pmf = |z: i128| (1.0 - p) / (1.0 + p) * p.powi(z.unsigned_abs() as i32);
                let mut e: Vec<f64> = (-range..=range).map(pmf).collect();
                e.push(1.0 - e.iter().sum::<f64>());
                e
            };
            let (stat, df) = chi_square(&counts, &expected(p), n);
            assert!(
                stat < chi_square_critical(df),
                "scale {t}/{s}: chi-square {stat:.1} over {df} degrees of freedom"
            );
            // The test has the power to see a scale 10% off.
            let off = (-(s as f64) / (1.1 * t as f64)).exp();
            let (stat, df) = chi_square(&counts, &expected(off), n);
            assert!(
                stat > chi_square_critical(df),
                "scale {t}/{s} passed as 1.1 times itself: chi-square {stat:.1}"
            );
            // The mean is 0 and the variance 2p / (1 - p)^2: both within a few standard errors.
            let mut rng = ChaCha20Rng::seed_from_u64(seed + 100);
            let samples: Vec<f64> = (0..n)
                .map(|_| discrete_laplace(&mut rng, s, t) as f64)
                .collect();
            let mean = samples.iter().sum::<f64>() / n as f64;
            let variance = 2.0 * p / (1.0 - p).powi(2);
            assert!(
                mean.abs() < 5.0 * (variance / n as f64).sqrt(),
                "scale {t}/{s}: mean {mean}"
            );
        }
    }

    /// Bernoulli(exp(-γ)) for γ below, at and beyond 1: the share of successes within five
    /// standard errors of exp(-γ).
    #[test]
    fn bernoulli_exp_is_exact_in_distribution() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for (n, d) in [(0u128, 1u128), (1, 3), (1, 1), (5, 2), (7, 1)] {
            let trials = 100_000;
            let hits = (0..trials)
                .filter(|_| bernoulli_exp(&mut rng, n, d))
                .count() as f64;
            let p = (-(n as f64) / d as f64).exp();
            let error = (p * (1.0 - p) / trials as f64).sqrt();
            assert!(
                (hits / trials as f64 - p).abs() <= 5.0 * error + 1e-12,
                "exp(-{n}/{d}) = {p}, sampled {}",
                hits / trials as f64
            );
        }
    }

    #[test]
    fn noise_scales_with_sensitivity_over_epsilon() {
        // Scale 4 / 0.5 = 8: the mean absolute value of discrete Laplace(8) is about 8.
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let n = 50_000;
        let mean_abs = (0..n)
            .map(|_| noise(&mut rng, 4, EPSILON_UNIT / 2).unsigned_abs() as f64)
            .sum::<f64>()
            / n as f64;
        assert!((7.0..9.0).contains(&mean_abs), "{mean_abs}");
    }
}
