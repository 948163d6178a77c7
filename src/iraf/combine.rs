//! IMCOMBINE's combining operations and sigma for one pixel, in IRAF's summation order.

// The loops follow IRAF's 1-based index arithmetic on purpose, so that each step can be checked
// against the algorithm it reproduces.
#![allow(clippy::needless_range_loop, clippy::explicit_counter_loop)]

use super::params::{Combine, Params};
use super::px::{sqrt_div, Px};

/// Average, sum or quadrature of `d[1..=n]` (IRAF's `ic_average` / `ic_quad`).
///
/// `all` is IRAF's "no value excluded on this row" state: weighted sums then use the normalised
/// weights directly instead of dividing by their sum over the survivors.
pub fn average<F: Px>(p: &Params, d: &[F], id: &[u16], n: usize, all: bool) -> Option<F> {
    if n == 0 {
        return None;
    }
    let doaverage = p.combine != Combine::Sum;
    // combine=sum ignores the weights (measured on IRAF 2.17).
    let dowts = p.dowts && doaverage;
    if p.combine == Combine::Quadrature {
        return Some(quadrature(p, d, id, n, all, dowts));
    }
    if p.combine == Combine::NModel {
        return Some(nmodel(p, d, id, n, all, dowts));
    }
    if dowts {
        let wt = |j: usize| p.wts[id[j] as usize];
        let mut w = wt(1);
        let mut sum = d[1] * F::r(w);
        let mut sumwt = w;
        for j in 2..=n {
            w = wt(j);
            sum = sum + d[j] * F::r(w);
            sumwt += w;
        }
        if all {
            return Some(sum);
        }
        if sumwt > 0.0 {
            return Some(sum / F::r(sumwt));
        }
    }
    let mut sum = d[1];
    for &x in &d[2..=n] {
        sum = sum + x;
    }
    Some(if doaverage { sum / F::n(n) } else { sum })
}

/// `sqrt(sum x^2) / n` (weighted: `sqrt(sum (w x)^2) / sum w`), with IRAF's `real` values.
fn quadrature<F: Px>(p: &Params, d: &[F], id: &[u16], n: usize, all: bool, dowts: bool) -> F {
    if dowts {
        let wt = |j: usize| p.wts[id[j] as usize];
        let mut sum = F::ZERO;
        let mut sumwt = 0.0f32;
        for j in 1..=n {
            let v = F::r(d[j].to_r() * wt(j));
            sum = sum + v * v;
            sumwt += wt(j);
        }
        if all {
            return sum.sqrt();
        }
        if sumwt > 0.0 {
            return sqrt_div(sum, F::r(sumwt));
        }
    }
    let mut sum = F::ZERO;
    for &x in &d[1..=n] {
        let v = F::r(x.to_r());
        sum = sum + v * v;
    }
    sqrt_div(sum, F::n(n))
}

/// IRAF's `ic_nmodel`: `sqrt(sum_j v_j) / n` with the model variance of each value,
/// `v = (rdnoise/g)^2 + max(x, 0)/g + (snoise max(x, 0))^2` in real arithmetic (weighted:
/// `sqrt(sum w^2 v) / sum w`).
///
/// IRAF looks the model up by the value's position in the pixel's list rather than by its
/// image; with `defects` that is reproduced.
fn nmodel<F: Px>(p: &Params, d: &[F], id: &[u16], n: usize, all: bool, dowts: bool) -> F {
    let variance = |j: usize| -> f32 {
        let image = if p.defects { j - 1 } else { id[j] as usize };
        let [var0, gain, snoise] = p.nmodel[image];
        let x = d[j].to_r().max(0.0);
        let sx = x * snoise;
        (var0 + x / gain) + sx * sx
    };
    if dowts {
        let wt = |j: usize| p.wts[id[j] as usize];
        let mut sum = F::ZERO;
        let mut sumwt = 0.0f32;
        for j in 1..=n {
            sum = sum + F::r(variance(j) * (wt(j) * wt(j)));
            sumwt += wt(j);
        }
        if all {
            return F::from_f64(sum.to_f64().sqrt());
        }
        if sumwt > 0.0 {
            return sqrt_div(sum, F::r(sumwt));
        }
    }
    let mut sum = F::ZERO;
    for j in 1..=n {
        sum = sum + F::r(variance(j));
    }
    sqrt_div(sum, F::n(n))
}

/// Median of `d[1..=n]`. With `sorted` the values are read at the middle positions as they
/// stand (IRAF's shortcut after an mclip sort); otherwise Wirth's selection runs in place, which
/// permutes `d` exactly as IRAF's `ic_median` does.
pub fn median<F: Px>(p: &Params, d: &mut [F], n: usize, sorted: bool) -> Option<F> {
    if n == 0 {
        return None;
    }
    if p.combine == Combine::LMedian && n == 2 {
        // IRAF's shortcut for sorted data takes the upper of the two (a defect).
        if sorted && p.defects {
            return Some(d[2]);
        }
        return Some(if d[2] < d[1] { d[2] } else { d[1] });
    }
    if sorted {
        let j1 = n / 2 + 1;
        return Some(if n.is_multiple_of(2) {
            (d[j1] + d[n / 2]) / F::TWO
        } else {
            d[j1]
        });
    }
    Some(match n {
        1 => d[1],
        2 => (d[1] + d[2]) / F::TWO,
        3 => {
            let (v1, v2, v3) = (d[1], d[2], d[3]);
            if v1 < v2 {
                if v2 < v3 {
                    v2
                } else if v1 < v3 {
                    v3
                } else {
                    v1
                }
            } else if v2 > v3 {
                v2
            } else if v1 > v3 {
                v3
            } else {
                v1
            }
        }
        _ => {
            let mid = n.div_ceil(2);
            let lower = wirth(d, n, mid);
            if n.is_multiple_of(2) {
                (lower + wirth(d, n, mid + 1)) / F::TWO
            } else {
                lower
            }
        }
    })
}

/// Wirth's selection of the `j`-th smallest of `d[1..=n]`, in place.
fn wirth<F: Px>(d: &mut [F], n: usize, j: usize) -> F {
    let (mut lo, mut up) = (1usize, n);
    while lo < up {
        let temp = d[j];
        let (mut lo1, mut up1) = (lo, up);
        loop {
            while d[lo1] < temp {
                lo1 += 1;
            }
            while temp < d[up1] {
                up1 -= 1;
            }
            if lo1 <= up1 {
                d.swap(lo1, up1);
                lo1 += 1;
                up1 -= 1;
            }
            if lo1 > up1 {
                break;
            }
        }
        if up1 < j {
            lo = lo1;
        }
        if j < lo1 {
            up = up1;
        }
    }
    d[j]
}

/// Sigma of `d[1..=n]` about the output value `a` with `n - 1` (IRAF's `ic_sigma`).
pub fn sigma<F: Px>(p: &Params, d: &[F], id: &[u16], n: usize, a: F, all: bool) -> Option<F> {
    if n == 0 {
        return None;
    }
    // The sigma of a sum is taken about the sum, weighted when the weights differ.
    let dowts = p.dowts && !p.combine.is_median();
    if dowts {
        let sigcor: f32 = if n > 1 {
            n as f32 / (n - 1) as f32
        } else {
            1.0
        };
        let wt = |j: usize| p.wts[id[j] as usize];
        let mut sum = F::ZERO;
        let mut sumwt = 0.0f32;
        for j in 1..=n {
            let t = d[j] - a;
            sum = sum + t * t * F::r(wt(j));
            sumwt += wt(j);
        }
        if all {
            return Some((sum * F::r(sigcor)).sqrt());
        }
        if sumwt > 0.0 {
            return Some((sum / F::r(sumwt) * F::r(sigcor)).sqrt());
        }
        let mut sum = F::ZERO;
        for &x in &d[1..=n] {
            let t = x - a;
            sum = sum + t * t;
        }
        return Some((sum / F::n(n) * F::r(sigcor)).sqrt());
    }
    let sigcor: f32 = if n > 1 { 1.0 / (n - 1) as f32 } else { 1.0 };
    let mut sum = F::ZERO;
    for &x in &d[1..=n] {
        let t = x - a;
        sum = sum + t * t;
    }
    Some((sum * F::r(sigcor)).sqrt())
}
