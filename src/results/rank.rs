//! Two independent runs of one cell, compared: the interval of the ratio new / old from
//! every pair of an old and a new repetition, with the exact coverage of the Mann-Whitney
//! test (`conclab compare`). Its coverage is checked by simulation in `intervals.rs`.

use super::stats::MedianCi;

/// The standard normal CDF (Abramowitz and Stegun 7.1.26: within 1e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// How often `U <= u` under the null hypothesis of the Mann-Whitney test for samples of
/// `m` and `n`, for every `u` from 0 to `m * n`: the coefficients of the Gaussian binomial
/// `[m + n choose m]_q`, divided by their sum. None when the table would be too large.
fn mann_whitney_cdf(m: usize, n: usize) -> Option<Vec<f64>> {
    let top = m.checked_mul(n).filter(|&t| t <= 250_000 && m <= 1_000)?;
    // prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i), built one factor at a time.
    let mut poly = vec![0.0f64; top + 1];
    poly[0] = 1.0;
    for i in 1..=m {
        for u in (n + i..=top).rev() {
            poly[u] -= poly[u - n - i];
        }
        for u in i..=top {
            poly[u] += poly[u - i];
        }
    }
    let total: f64 = poly.iter().sum();
    let mut acc = 0.0;
    Some(
        poly.iter()
            .map(|c| {
                acc += c / total;
                acc.min(1.0)
            })
            .collect(),
    )
}

/// The interval of the ratio `new / old` between two independent runs of one cell: the
/// Hodges-Lehmann interval of the Mann-Whitney test, on every ratio of a new time to an
/// old one. It covers the ratio by which the new run's times are scaled from the old
/// run's with the exact probability it states, whatever the shape of the times, as long
/// as the repetitions are independent and the change scales the times (one shape, a
/// different scale). Between 3 and 3 repetitions it states 90% (95% one-sided); from 4
/// and 4 on, 95%.
pub fn ratio_interval(old: &[f64], new: &[f64]) -> Option<MedianCi> {
    let (m, n) = (old.len(), new.len());
    if m == 0 || n == 0 || old.iter().chain(new).any(|t| t.is_nan() || *t <= 0.0) {
        return None;
    }
    let mut ratios: Vec<f64> = new
        .iter()
        .flat_map(|b| old.iter().map(move |a| b / a))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let top = ratios.len();
    // The interval between the k-th smallest and the k-th largest ratio misses the true
    // ratio with probability 2 P(U <= k - 1).
    let coverage = |k: usize| -> f64 {
        match mann_whitney_cdf(m, n) {
            Some(cdf) => 1.0 - 2.0 * cdf[k - 1],
            None => {
                // The normal approximation of U, for runs too large for the exact table.
                let (mf, nf) = (m as f64, n as f64);
                let sd = (mf * nf * (mf + nf + 1.0) / 12.0).sqrt();
                let z = ((k as f64 - 0.5) - mf * nf / 2.0) / sd;
                1.0 - 2.0 * normal_cdf(z)
            }
        }
    };
    let widest = coverage(1);
    let k = (1..=top.div_ceil(2))
        .take_while(|&k| coverage(k) >= 0.95)
        .last()
        .unwrap_or(1);
    Some(MedianCi {
        low: ratios[k - 1],
        high: ratios[top - k],
        coverage: if k == 1 { widest } else { coverage(k) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::intervals::decides;

    #[test]
    fn the_mann_whitney_table_counts_every_arrangement() {
        // Brute force: every way to place m "old" among m + n ranks, U = pairs (old, new)
        // with the new one below.
        fn brute(m: usize, n: usize) -> Vec<f64> {
            let mut counts = vec![0.0; m * n + 1];
            for mask in 0u32..(1 << (m + n)) {
                if mask.count_ones() as usize != m {
                    continue;
                }
                let (mut u, mut news) = (0, 0);
                for bit in 0..m + n {
                    if mask & (1 << bit) != 0 {
                        u += news;
                    } else {
                        news += 1;
                    }
                }
                counts[u] += 1.0;
            }
            let total: f64 = counts.iter().sum();
            let mut acc = 0.0;
            counts
                .iter()
                .map(|c| {
                    acc += c / total;
                    acc
                })
                .collect()
        }
        for (m, n) in [(1, 1), (3, 3), (3, 5), (4, 4), (5, 6)] {
            let exact = mann_whitney_cdf(m, n).unwrap();
            for (a, b) in exact.iter().zip(brute(m, n)) {
                assert!((a - b).abs() < 1e-12, "m={m} n={n}: {a} != {b}");
            }
        }
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655).abs() < 1e-6);
    }

    #[test]
    fn two_runs_of_three_decide_a_ratio_and_of_two_do_not() {
        let iv = |old: &[f64], new: &[f64]| ratio_interval(old, new).unwrap();
        let three = iv(&[1.0, 1.01, 0.99], &[2.0, 2.02, 1.98]);
        assert!((three.coverage - 0.90).abs() < 1e-12, "{three:?}");
        assert!(decides(three.coverage));
        assert!(
            (three.low - 1.98 / 1.01).abs() < 1e-12 && (three.high - 2.02 / 0.99).abs() < 1e-12
        );
        let four = iv(&[1.0, 1.01, 0.99, 1.02], &[1.0, 1.01, 0.99, 1.02]);
        assert!(
            (four.coverage - (1.0 - 2.0 / 70.0)).abs() < 1e-12,
            "{four:?}"
        );
        assert!(four.low < 1.0 && four.high > 1.0);
        let two = iv(&[1.0, 1.01], &[2.0, 2.02]);
        assert!(!decides(two.coverage), "{two:?}");
        // Twenty a side: an inner pair of ratios, still at least 95%.
        let old: Vec<f64> = (0..20).map(|i| 1.0 + i as f64 / 100.0).collect();
        let wide = iv(&old, &old);
        assert!(
            wide.coverage >= 0.95 && wide.low > old[0] / old[19],
            "{wide:?}"
        );
    }
}
