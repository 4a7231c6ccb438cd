//! Summary statistics of repeated measurements.

/// Median, mean, sample standard deviation, extremes and Tukey outliers of a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub n: usize,
    pub median: f64,
    pub mean: f64,
    pub stddev: f64,
    pub min: f64,
    pub max: f64,
    /// Coefficient of variation: stddev / mean.
    pub cv: f64,
    /// Values outside 1.5 interquartile ranges of the quartiles.
    pub outliers: usize,
    /// The confidence interval of the median (see [`median_ci`]).
    pub ci: MedianCi,
}

/// A distribution-free confidence interval of the median: two order statistics of the
/// sample, with the probability that they enclose the true median.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MedianCi {
    pub low: f64,
    pub high: f64,
    /// Exact coverage for any continuous distribution: 0.95 or more from 6 values on;
    /// below that the interval is the whole sample (min to max) and covers less.
    pub coverage: f64,
}

impl MedianCi {
    /// Half the interval's width relative to `centre`: the precision `auto` aims at.
    pub fn relative_half_width(&self, centre: f64) -> f64 {
        if centre > 0.0 {
            (self.high - self.low) / 2.0 / centre
        } else {
            0.0
        }
    }

    pub fn overlaps(&self, other: &MedianCi) -> bool {
        self.low <= other.high && other.low <= self.high
    }
}

/// The confidence level the intervals aim at.
pub const CI_LEVEL: f64 = 0.95;

/// P(X <= k) for X ~ Binomial(n, 1/2), summed in log space so large n cannot underflow.
fn binomial_half_cdf(n: usize, k: usize) -> f64 {
    let mut log_p = -(n as f64) * std::f64::consts::LN_2;
    let mut sum = 0.0;
    for i in 0..=k.min(n) {
        sum += log_p.exp();
        log_p += ((n - i) as f64 / (i + 1) as f64).ln();
    }
    sum.min(1.0)
}

/// The narrowest symmetric pair of order statistics `[x(j), x(n+1-j)]` of a sorted
/// sample that covers the median with probability >= 95%. The number of sample values
/// below the median is Binomial(n, 1/2) whatever the distribution, so the coverage
/// `1 - 2 P(B <= j-1)` is exact; with fewer than 6 values no pair reaches 95% and the
/// interval is min to max, with its lower coverage stated.
pub fn median_ci(sorted: &[f64]) -> Option<MedianCi> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let coverage = |j: usize| 1.0 - 2.0 * binomial_half_cdf(n, j - 1);
    let mut j = 1;
    while j < n.div_ceil(2) && coverage(j + 1) >= CI_LEVEL {
        j += 1;
    }
    Some(MedianCi {
        low: sorted[j - 1],
        high: sorted[n - j],
        coverage: coverage(j).max(0.0),
    })
}

/// The coverage [`median_ci`] states for a sample of `n` values.
pub fn median_coverage(n: usize) -> f64 {
    let sample: Vec<f64> = (0..n).map(|i| i as f64).collect();
    median_ci(&sample).map_or(0.0, |ci| ci.coverage)
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    crate::measure::quantile(&v, 0.5)
}

pub fn stats(values: &[f64]) -> Option<Stats> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let stddev = if n > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let q = |p| crate::measure::quantile(&v, p).unwrap_or(f64::NAN);
    let (q1, q3) = (q(0.25), q(0.75));
    let iqr = q3 - q1;
    let outliers = if n >= 4 {
        v.iter()
            .filter(|x| **x < q1 - 1.5 * iqr || **x > q3 + 1.5 * iqr)
            .count()
    } else {
        0
    };
    let ci = median_ci(&v).expect("a non-empty sample");
    Some(Stats {
        ci,
        n,
        median: q(0.5),
        mean,
        stddev,
        min: v[0],
        max: v[n - 1],
        cv: if mean > 0.0 { stddev / mean } else { 0.0 },
        outliers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sample() {
        let s = stats(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.n, 8);
        assert_eq!(s.median, 4.5);
        assert_eq!(s.mean, 5.0);
        assert!((s.stddev - 2.138_089_935).abs() < 1e-6);
        assert_eq!((s.min, s.max), (2.0, 9.0));
        assert!((s.cv - s.stddev / 5.0).abs() < 1e-12);
    }

    #[test]
    fn outliers_by_tukey_fences() {
        let s = stats(&[1.0, 1.0, 1.1, 1.0, 0.9, 5.0]).unwrap();
        assert_eq!(s.outliers, 1);
        assert_eq!(stats(&[1.0]).unwrap().stddev, 0.0);
        assert!(stats(&[]).is_none());
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }

    fn sample(n: usize) -> Vec<f64> {
        (1..=n).map(|i| i as f64).collect()
    }

    /// Coverages worked out by hand from the binomial distribution with p = 1/2.
    #[test]
    fn median_ci_takes_the_order_statistics_the_binomial_gives() {
        let ci = median_ci(&sample(3)).unwrap();
        assert_eq!((ci.low, ci.high), (1.0, 3.0));
        assert!((ci.coverage - 0.75).abs() < 1e-12, "1 - 2/8");
        let ci = median_ci(&sample(6)).unwrap();
        assert_eq!((ci.low, ci.high), (1.0, 6.0));
        assert!((ci.coverage - (1.0 - 2.0 / 64.0)).abs() < 1e-12);
        // n = 8: [x2, x7] would cover 1 - 2*9/256 = 0.9297, short of 95%.
        let ci = median_ci(&sample(8)).unwrap();
        assert_eq!((ci.low, ci.high), (1.0, 8.0));
        // n = 10: [x2, x9] covers 1 - 2*11/1024 = 0.9785; [x3, x8] only 0.8906.
        let ci = median_ci(&sample(10)).unwrap();
        assert_eq!((ci.low, ci.high), (2.0, 9.0));
        assert!((ci.coverage - (1.0 - 22.0 / 1024.0)).abs() < 1e-12);
        // n = 20: P(B <= 5) = 21700 / 2^20, P(B <= 6) = 60460 / 2^20.
        let ci = median_ci(&sample(20)).unwrap();
        assert_eq!((ci.low, ci.high), (6.0, 15.0));
        assert!((ci.coverage - (1.0 - 2.0 * 21700.0 / 1048576.0)).abs() < 1e-12);
        let ci = median_ci(&[4.0]).unwrap();
        assert_eq!((ci.low, ci.high, ci.coverage), (4.0, 4.0, 0.0));
        assert!(median_ci(&[]).is_none());
    }

    #[test]
    fn large_samples_do_not_underflow() {
        let ci = median_ci(&sample(5000)).unwrap();
        assert!(ci.coverage >= 0.95 && ci.coverage < 0.96, "{ci:?}");
        // About 1.96 * sqrt(n) / 2 = 69 ranks either side of the middle.
        assert!((2425.0..2435.0).contains(&ci.low), "{ci:?}");
    }

    #[test]
    fn intervals_overlap_and_measure_their_width() {
        let base = MedianCi {
            low: 3.8,
            high: 4.2,
            coverage: 0.95,
        };
        let cell = MedianCi {
            low: 1.9,
            high: 2.1,
            coverage: 0.95,
        };
        assert!(base.overlaps(&MedianCi {
            low: 4.1,
            high: 5.0,
            coverage: 0.95
        }));
        assert!(!base.overlaps(&cell));
        assert!((cell.relative_half_width(2.0) - 0.05).abs() < 1e-12);
    }
}
