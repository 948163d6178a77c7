//! Rosner's generalized extreme Studentized deviate (ESD) test: one pass.
//!
//! Rosner, B. (1983), "Percentage points for a generalized ESD many-outlier procedure",
//! Technometrics 25(2), 165-172; NIST/SEMATECH e-Handbook of Statistical Methods, 1.3.5.17.3.
//!
//! ```text
//! n survivors, r = min(floor(outlier_fraction * n), n - 2) candidates (none when n < 3)
//! for i = 1..r, over the k = n - i + 1 values x[lo..hi] not yet removed, as deviations
//! d = x - c from the middle value c = x[m], m = n/2 (so that large values lose no precision):
//!   S = sum(d),  Q = sum(d^2), each as (sum over lo..m, added from m-1 down to lo)
//!                                     + (sum over m..hi, added from m up to hi-1)
//!   (or in order from lo when m is outside lo..=hi, which needs outlier_fraction > 1/2)
//!   md = S / k   (the mean is c + md)
//!   ss = Q - md * S;  stop when ss <= 0 (all equal);    s = sqrt(ss / (k - 1))
//!   below = md - (lowest - c);   above = (highest - c) - md
//!   the candidate is the lowest when below > low_relaxation * above, else the highest
//!   R_i = (below / low_relaxation or above, as the candidate) / s
//!   lambda_i = (n - i) t / sqrt((n - i - 1 + t^2)(n - i + 1)),
//!   t = t_{p, n-i-1},  p = 1 - alpha / (2 (n - i + 1))
//! outliers: the first k removed, k = the largest i with R_i > lambda_i (0 when none)
//! k is capped by maxrej (flag MAXREJ) and by n - nkeep (flag NKEEP)
//! ```
//!
//! Each removed value is the lowest or the highest left, so the survivors stay a contiguous run.
//! The sums outward from the middle are running sums computed once per element, so a step
//! costs O(1) and no sum ever subtracts a removed (possibly huge) value.
//! The critical values depend only on `(alpha, n, i)`: each thread keeps a table of them, filled
//! the first time a depth is met, so they are computed once per thread rather than per element.

use std::cell::RefCell;

use super::student_t::upper_quantile;
use super::{flags, Report, Survivors};

/// Generalized ESD parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gesd {
    pub outlier_fraction: f64,
    pub alpha: f64,
    /// Deviations below the mean are divided by this before the test.
    pub low_relaxation: f64,
    pub nkeep: usize,
    pub maxrej: Option<usize>,
}

/// Rosner's critical value `lambda_i` for `n` values at significance `alpha` (`1 <= i <= n - 2`).
#[must_use]
pub fn critical_value(alpha: f64, n: usize, i: usize) -> f64 {
    debug_assert!(i >= 1 && i + 2 <= n);
    let left = (n - i) as f64; // values left after removing i
    let nu = left - 1.0;
    let t = upper_quantile(alpha / (2.0 * (left + 1.0)), nu);
    // = left t / sqrt((nu + t^2)(left + 1)), without overflowing t^2 for a tiny alpha.
    left / ((1.0 + nu / t / t) * (left + 1.0)).sqrt()
}

/// Per alpha (as bits), then by `n`: `lambda_i^2 / (n - i)` for `i = 1..` as far as needed.
/// (`R_i > lambda_i` is `d^2 > lambda_i^2 / (n - i) * ss` with `s^2 = ss / (n - i)`, which
/// spares a square root and a division per step.)
type Tables = Vec<(u64, Vec<Vec<f64>>)>;

thread_local! {
    static CRITICAL: RefCell<Tables> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `lambda_i^2 / (n - i)`, `i = 1..=r`, for `(alpha, n)`, from this thread's table.
fn with_critical_values<R>(alpha: f64, n: usize, r: usize, f: impl FnOnce(&[f64]) -> R) -> R {
    CRITICAL.with(|cell| {
        let mut tables = cell.borrow_mut();
        let key = alpha.to_bits();
        let at = if let Some(at) = tables.iter().position(|(k, _)| *k == key) {
            at
        } else {
            tables.push((key, Vec::new()));
            tables.len() - 1
        };
        let by_n = &mut tables[at].1;
        if by_n.len() <= n {
            by_n.resize_with(n + 1, Vec::new);
        }
        let row = &mut by_n[n];
        for i in row.len() + 1..=r {
            let lambda = critical_value(alpha, n, i);
            row.push(lambda * lambda / (n - i) as f64);
        }
        f(&row[..r])
    })
}

/// Running sums of `d = x - c` and `d^2` outward from the middle `m` of the sorted `x`
/// (`c = x[m]`): entry `j <= m` holds the sums over `j..m`, entry `j >= m` those over `m..j`.
/// Stored interleaved in `sums` (`2 (n + 1)` values).
fn outward_sums(x: &[f64], m: usize, c: f64, sums: &mut Vec<f64>) {
    let n = x.len();
    if sums.len() != 2 * (n + 1) {
        sums.resize(2 * (n + 1), 0.0); // every entry is written below
    }
    sums[2 * m] = 0.0;
    sums[2 * m + 1] = 0.0;
    // Both halves in one loop (four independent sums), each still added outward in order.
    let (mut sl, mut ql, mut sr, mut qr) = (0.0, 0.0, 0.0, 0.0);
    for t in 0..m.max(n - m) {
        if t < m {
            let j = m - 1 - t;
            let d = x[j] - c;
            sl += d;
            ql += d * d;
            sums[2 * j] = sl;
            sums[2 * j + 1] = ql;
        }
        if m + t < n {
            let j = m + t;
            let d = x[j] - c;
            sr += d;
            qr += d * d;
            sums[2 * (j + 1)] = sr;
            sums[2 * (j + 1) + 1] = qr;
        }
    }
}

/// The statistics of `x[lo..hi]`: its mean minus `c`, and its sum of squared deviations from
/// the mean (`Q - md * S`).
#[inline]
fn moments(x: &[f64], (lo, hi): (usize, usize), m: usize, c: f64, sums: &[f64]) -> (f64, f64) {
    let (s, q) = if lo <= m && m <= hi {
        (
            sums[2 * lo] + sums[2 * hi],
            sums[2 * lo + 1] + sums[2 * hi + 1],
        )
    } else {
        let (mut s, mut q) = (0.0, 0.0);
        for &v in &x[lo..hi] {
            let d = v - c;
            s += d;
            q += d * d;
        }
        (s, q)
    };
    let md = s / (hi - lo) as f64;
    (md, q - md * s)
}

/// The sample standard deviation (ddof = 1) from `moments`' sum of squares.
#[inline]
fn std1(ss: f64, k: usize) -> f64 {
    (ss.max(0.0) / (k - 1) as f64).sqrt()
}

impl Gesd {
    /// Most candidates tested among `n` values.
    #[must_use]
    pub fn candidates(&self, n: usize) -> usize {
        if n < 3 {
            return 0;
        }
        ((self.outlier_fraction * n as f64).floor() as usize).min(n - 2)
    }

    /// `scratch` holds the running sums (`2 (n + 1)` values), then each step's removal side
    /// (1: low, 0: high) and sum of squared deviations.
    pub(crate) fn apply(&self, s: &mut Survivors<'_>, scratch: &mut Vec<f64>) -> Report {
        let mut report = Report::nothing();
        let n = s.len();
        if n == 0 {
            return report;
        }
        report.nit = 1;
        let r = self.candidates(n);
        let all: &[f64] = s.x; // the data, not `s` (which is narrowed below)
        let x = &all[s.lo..s.hi];
        let m = n / 2;
        let c = x[m];
        outward_sums(x, m, c, scratch);
        let base = scratch.len();
        // Steps made, and whether the last one found all values equal (a zero spread).
        let (mut k, mut steps, mut flat) = (0, 0, false);
        let relax2 = self.low_relaxation * self.low_relaxation;
        if r > 0 {
            with_critical_values(self.alpha, n, r, |lambda| {
                let (mut lo, mut hi) = (0, n);
                for (i, &critical) in lambda.iter().enumerate() {
                    let (md, ss) = moments(x, (lo, hi), m, c, &scratch[..base]);
                    if ss.is_nan() || ss <= 0.0 {
                        flat = true;
                        break; // all equal: nothing further is extreme
                    }
                    // The low candidate when (m - lowest) / low_relaxation > highest - m.
                    let below = md - (x[lo] - c);
                    let above = (x[hi - 1] - c) - md;
                    let low = below > self.low_relaxation * above;
                    // R_i = dev / s > lambda_i, with dev = below / low_relaxation or above.
                    let (dev, scale) = if low { (below, relax2) } else { (above, 1.0) };
                    if dev > 0.0 && dev * dev > critical * scale * ss {
                        k = i + 1;
                    }
                    if low {
                        lo += 1;
                    } else {
                        hi -= 1;
                    }
                    scratch.push(if low { 1.0 } else { 0.0 });
                    scratch.push(ss);
                    steps += 1;
                }
            });
        }
        if let Some(m) = self.maxrej {
            if k > m {
                k = m;
                report.flags |= flags::MAXREJ;
            }
        }
        let allowed = n.saturating_sub(self.nkeep);
        if k > allowed {
            k = allowed;
            report.flags |= flags::NKEEP;
        }
        let low = (0..k).filter(|&j| scratch[base + 2 * j] == 1.0).count();
        s.lo += low;
        s.hi -= k - low;
        // The survivors' standard deviation: that of step k + 1 when it was made.
        report.spread = if k < steps {
            std1(scratch[base + 2 * k + 1], n - k)
        } else if flat {
            0.0
        } else if n - k >= 2 {
            std1(
                moments(x, (low, n - (k - low)), m, c, &scratch[..base]).1,
                n - k,
            )
        } else {
            f64::NAN
        };
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 54 values of Rosner (1983), the NIST handbook's worked example (1.3.5.17.3).
    const ROSNER: [f64; 54] = [
        -0.25, 0.68, 0.94, 1.15, 1.20, 1.26, 1.26, 1.34, 1.38, 1.43, 1.49, 1.49, 1.55, 1.56, 1.58,
        1.65, 1.69, 1.70, 1.76, 1.77, 1.81, 1.91, 1.94, 1.96, 1.99, 2.06, 2.09, 2.10, 2.14, 2.15,
        2.23, 2.24, 2.26, 2.35, 2.37, 2.40, 2.47, 2.54, 2.62, 2.64, 2.90, 2.92, 2.92, 2.93, 3.21,
        3.26, 3.30, 3.59, 3.68, 4.30, 4.64, 5.34, 5.42, 6.01,
    ];

    /// The handbook's table (alpha = 0.05, up to 10 outliers): `(R_i, lambda_i)`, printed to three
    /// decimals by truncation.
    const NIST_TABLE: [(f64, f64); 10] = [
        (3.118, 3.158),
        (2.942, 3.151),
        (3.179, 3.143),
        (2.810, 3.136),
        (2.815, 3.128),
        (2.848, 3.120),
        (2.279, 3.111),
        (2.310, 3.103),
        (2.101, 3.094),
        (2.067, 3.085),
    ];

    fn printed(v: f64) -> f64 {
        (v * 1000.0).floor() / 1000.0
    }

    fn rule(outlier_fraction: f64) -> Gesd {
        Gesd {
            outlier_fraction,
            alpha: 0.05,
            low_relaxation: 1.0,
            nkeep: 1,
            maxrej: None,
        }
    }

    #[test]
    fn reproduces_the_nist_worked_example() {
        let n = ROSNER.len();
        let (mut lo, mut hi) = (0, n);
        for (i, &(r_nist, lambda_nist)) in NIST_TABLE.iter().enumerate() {
            let (m, c) = (n / 2, ROSNER[n / 2]);
            let mut sums = Vec::new();
            outward_sums(&ROSNER, m, c, &mut sums);
            let (md, ss) = moments(&ROSNER, (lo, hi), m, c, &sums);
            let (d_low, d_high) = (md - (ROSNER[lo] - c), (ROSNER[hi - 1] - c) - md);
            let stat = d_low.max(d_high) / std1(ss, hi - lo);
            let lambda = critical_value(0.05, n, i + 1);
            assert!((printed(stat) - r_nist).abs() < 1e-9, "R_{}: {stat}", i + 1);
            assert!(
                (printed(lambda) - lambda_nist).abs() < 1e-9,
                "lambda_{}: {lambda}",
                i + 1
            );
            if d_low > d_high {
                lo += 1;
            } else {
                hi -= 1;
            }
        }
        // floor(0.19 * 54) = 10 candidates: three outliers, the three largest values.
        assert_eq!(rule(0.19).candidates(n), 10);
        let mut s = Survivors {
            x: &ROSNER,
            lo: 0,
            hi: n,
            n_frames: n,
        };
        let report = rule(0.19).apply(&mut s, &mut Vec::new());
        assert_eq!((s.lo, s.hi, report.nit, report.flags), (0, 51, 1, 0));
    }

    #[test]
    fn small_stacks_reject_nothing_and_limits_cap_the_count() {
        let mut scratch = Vec::new();
        let x = [1.0, 100.0];
        let mut s = Survivors {
            x: &x,
            lo: 0,
            hi: 2,
            n_frames: 2,
        };
        let report = rule(0.5).apply(&mut s, &mut scratch);
        assert_eq!((s.lo, s.hi, report.nit), (0, 2, 1));
        // Two clear outliers among 12: maxrej = 1 keeps the less extreme one.
        let x = [
            -500.0, 9.0, 9.5, 10.0, 10.0, 10.0, 10.0, 10.5, 11.0, 11.0, 10.0, 1000.0,
        ];
        let mut sorted = x.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mut s = Survivors {
            x: &sorted,
            lo: 0,
            hi: 12,
            n_frames: 12,
        };
        let report = rule(0.3).apply(&mut s, &mut scratch);
        assert_eq!((s.lo, s.hi, report.flags), (1, 11, 0));
        let capped = Gesd {
            maxrej: Some(1),
            ..rule(0.3)
        };
        s.lo = 0;
        s.hi = 12;
        let report = capped.apply(&mut s, &mut scratch);
        assert_eq!((s.lo, s.hi, report.flags), (0, 11, flags::MAXREJ));
        let kept = Gesd {
            nkeep: 11,
            ..rule(0.3)
        };
        s.lo = 0;
        s.hi = 12;
        let report = kept.apply(&mut s, &mut scratch);
        assert_eq!((s.lo, s.hi, report.flags), (0, 11, flags::NKEEP));
        assert!(report.spread > 0.0 && report.spread < 200.0);
    }

    #[test]
    fn low_relaxation_spares_a_moderately_low_value() {
        // -4 is an outlier of the plain test (stat > lambda) but not once its deviation is halved.
        let x = [
            -4.0, 9.0, 9.5, 10.0, 10.0, 10.0, 10.0, 10.5, 11.0, 11.0, 10.0, 10.0,
        ];
        let mut sorted = x.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mut scratch = Vec::new();
        let mut s = Survivors {
            x: &sorted,
            lo: 0,
            hi: 12,
            n_frames: 12,
        };
        rule(0.3).apply(&mut s, &mut scratch);
        assert_eq!((s.lo, s.hi), (1, 12));
        let relaxed = Gesd {
            low_relaxation: 2.0,
            ..rule(0.3)
        };
        s.lo = 0;
        let _ = relaxed.apply(&mut s, &mut scratch);
        assert_eq!((s.lo, s.hi), (0, 12));
    }
}
