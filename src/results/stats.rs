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
    Some(Stats {
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
}
