//! IMCOMBINE's rejection algorithms for one pixel (one output row for avsigclip), with IRAF's
//! data movement.
//!
//! A pixel's usable values sit in `d[1..=n]` (1-based, as in IRAF, to keep the index arithmetic
//! of the algorithms recognisable) with their image numbers in `id`. Rejection shrinks `n` and
//! moves the rejected values beyond it; the order left in `d[1..=n]` is the order in which the
//! average is later summed, so it follows IRAF step by step: that is what makes float32 results
//! agree to the last bit. When an algorithm computes the output itself (IRAF's `docombine =
//! false`), it is returned as `Some`.

// The loops follow IRAF's 1-based index arithmetic on purpose, so that each step can be checked
// against the algorithm it reproduces.
#![allow(clippy::needless_range_loop, clippy::explicit_counter_loop)]

use super::params::{Combine, Params};
use super::px::{fmax, mul_sqrt, nint, sqrt_div, Px};

/// Tolerance for equal residuals in the nkeep add-back.
const TOL: f32 = 0.001;

/// One pixel's values and image numbers, 1-based (index 0 unused).
pub struct Col<'a, F> {
    pub d: &'a mut [F],
    pub id: &'a mut [u16],
    /// Number of values left.
    pub n: usize,
    /// Number of usable values before rejection.
    pub n0: usize,
}

/// Per-thread scratch: residuals and scale corrections, 1-based.
pub struct Scratch {
    pub resid: Vec<f32>,
    pub w: Vec<f32>,
}

impl Scratch {
    #[must_use]
    pub fn new(nimages: usize) -> Self {
        Scratch {
            resid: vec![0.0; nimages + 2],
            w: vec![0.0; nimages + 2],
        }
    }
}

/// The blank value in the workspace precision.
fn blank<F: Px>(p: &Params) -> F {
    F::r(p.blank)
}

/// Plain sum of `d[1..=n]` divided by `n` (blank for none).
fn plain_average<F: Px>(p: &Params, d: &[F], n: usize) -> F {
    if n == 0 {
        return blank(p);
    }
    let mut sum = d[1];
    for &x in &d[2..=n] {
        sum = sum + x;
    }
    sum / F::n(n)
}

/// Sum of all but the lowest and highest of `d[1..=n]` (n >= 3) in IRAF's running order,
/// returned with the average of those middle values and the full sum (middle + low + high).
fn trimmed<F: Px>(d: &[F], n: usize) -> (F, F) {
    let mut low = d[1];
    let mut high = d[2];
    if low > high {
        std::mem::swap(&mut low, &mut high);
    }
    let mut sum = F::ZERO;
    for &d1 in &d[3..=n] {
        if d1 < low {
            sum = sum + low;
            low = d1;
        } else if d1 > high {
            sum = sum + high;
            high = d1;
        } else {
            sum = sum + d1;
        }
    }
    let a = sum / F::n(n - 2);
    (a, sum + low + high)
}

/// Moves the value at `j` to the end of the first `n1` (swapping with `n1`), as the "average"
/// algorithms do when they reject.
#[inline]
fn drop_to_end<F: Px>(c: &mut Col<'_, F>, j: usize, n1: usize) {
    if j < n1 {
        c.d.swap(j, n1);
        c.id.swap(j, n1);
    }
}

/// The nkeep add-back of the "average" algorithms: rejected values (at `n1+1..=n2` with their
/// residuals) with the smallest residual come back first; ties within TOL come back together.
/// Returns the new `n1` and `sum`, and the residual compared last (IRAF keeps it in a variable
/// that avsigclip also uses for the row's sigma).
fn add_back_sorted<F: Px>(
    c: &mut Col<'_, F>,
    resid: &mut [f32],
    mut n1: usize,
    n2: usize,
    maxkeep: usize,
    mut sum: F,
) -> (usize, F, Option<f32>) {
    let tol = F::r(TOL);
    let mut nk = maxkeep;
    let mut j = n1 + 1;
    let mut last = None;
    while j <= nk {
        let mut r = F::r(resid[j]);
        let mut jj = 0;
        for l in j + 1..=n2 {
            let s = F::r(resid[l]);
            last = Some(resid[l]);
            if s < r + tol {
                if s > r - tol {
                    jj += 1;
                } else {
                    jj = 0;
                    resid[l] = r.to_r();
                    r = s;
                    c.d.swap(j, l);
                    // IRAF swaps the image numbers through the same variable.
                    last = Some(f32::from(c.id[j]) + 1.0);
                    c.id.swap(j, l);
                }
            }
        }
        sum = sum + c.d[j];
        n1 += 1;
        nk = nk.max(j + jj);
        j += 1;
    }
    (n1, sum, last)
}

/// The nkeep add-back of the "median" algorithms, which keep survivors in `nl..=nh` of sorted
/// data: widen the range on the side with the smaller residual (both sides on a tie).
/// `limit` is the index IRAF compares `nh` with in its second test (it differs per algorithm).
fn add_back_range(
    resid: &[f32],
    nl: &mut usize,
    nh: &mut usize,
    n_all: usize,
    limit: usize,
    maxkeep: usize,
) {
    let tol = TOL;
    let mut n1 = *nh + 1 - *nl;
    while n1 < maxkeep {
        if *nl == 1 {
            *nh += 1;
        } else if *nh == n_all {
            *nl -= 1;
        } else {
            let mut r = resid[*nl - 1];
            let mut s = resid[*nh + 1];
            if r < s {
                *nl -= 1;
                r += tol;
                if s <= r {
                    *nh += 1;
                }
                if *nl > 1 && resid[*nl - 1] <= r {
                    *nl -= 1;
                }
            } else {
                *nh += 1;
                s += tol;
                if r <= s {
                    *nl -= 1;
                }
                if *nh < limit && resid[*nh + 1] <= s {
                    *nh += 1;
                }
            }
        }
        n1 = *nh + 1 - *nl;
    }
}

/// The index IRAF's add-back compares the upper end with before taking a tied residual: the
/// count at the start of the last pass (median index for pclip) in IRAF, so a second high tie
/// can stay out (a defect); every value when corrected, so ties come back together.
fn tie_limit(p: &Params, iraf: usize, n_all: usize) -> usize {
    if p.defects {
        iraf
    } else {
        n_all
    }
}

/// IRAF's mclip=no algorithms update the mean only while more than one value is left, so a
/// single survivor is reported with the previous mean (a defect, kept with `defects`).
fn renews_mean(p: &Params, n1: usize) -> bool {
    n1 > 1 || (n1 == 1 && !p.defects)
}

/// Median of the sorted range `d[nl..nl+n1-1]` (even: mean of the middle two).
#[inline]
fn range_median<F: Px>(d: &[F], nl: usize, n1: usize, blank: F) -> F {
    if n1 == 0 {
        return blank;
    }
    let n3 = nl + n1 / 2;
    if n1.is_multiple_of(2) {
        (d[n3 - 1] + d[n3]) / F::TWO
    } else {
        d[n3]
    }
}

/// After clipping sorted data to `nl..=nh`, moves the survivors to `1..=n1` as IRAF does (the
/// values above the kept range fill the low slots) and swaps the image numbers, so the rejected
/// images stay beyond `n1`.
fn compact_range<F: Px>(c: &mut Col<'_, F>, nl: usize, n1: usize, count: usize) {
    let mut j = nl.max(n1 + 1);
    for l in 1..=count.min(nl - 1) {
        if j >= c.d.len() {
            break;
        }
        c.d[l] = c.d[j];
        c.id.swap(l, j);
        j += 1;
    }
}

/// Whether IRAF reorders the survivors of a median-type clip (it skips it for combine=median
/// without grow: the defect that leaves rejected low values among the first `n`).
fn reorders(p: &Params) -> bool {
    !p.defects || !p.combine.is_median() || p.grow >= 1.0
}

/// sigclip with mclip=no (IRAF's `ic_asigclip`).
pub fn asigclip<F: Px>(p: &Params, c: &mut Col<'_, F>, sc: &mut Scratch, own: bool) -> Option<F> {
    let mut n1 = c.n;
    let maxkeep = p.maxkeep(n1);
    if n1 < 3.max(maxkeep) {
        return own.then(|| plain_average(p, c.d, n1));
    }
    let (mut a, mut sum) = trimmed(c.d, n1);
    let (ls, hs) = (F::r(p.lsigma), F::r(p.hsigma));
    let mut n2;
    loop {
        n2 = n1;
        if p.doscale1 {
            let mut s = F::ZERO;
            for j in 1..=n1 {
                let l = c.id[j] as usize;
                let r = fmax(F::ONE, (a + F::r(p.zeros[l])) / F::r(p.scales[l])).sqrt();
                let t = (c.d[j] - a) / r;
                s = s + t * t;
                sc.w[j] = r.to_r();
            }
            s = (s / F::n(n1 - 1)).sqrt();
            if s > F::ZERO {
                let mut j = 1;
                // IRAF walks the scale corrections with a pointer that keeps advancing when a
                // rejected value is replaced by the last one, so the replacement is tested
                // with the next position's factor (a defect; `wp == j` when corrected).
                let mut wp = 0;
                while j <= n1 {
                    wp = if p.defects { wp + 1 } else { j };
                    let d1 = c.d[j];
                    let r = (d1 - a) / (s * F::r(sc.w[wp]));
                    if r < -ls || r > hs {
                        sc.resid[n1] = r.abs().to_r();
                        if j < n1 {
                            c.d.swap(j, n1);
                            c.id.swap(j, n1);
                            sc.w[wp] = sc.w[n1];
                            j -= 1;
                        }
                        sum = sum - d1;
                        n1 -= 1;
                    }
                    j += 1;
                }
            }
        } else {
            let mut s = F::ZERO;
            for j in 1..=n1 {
                let t = c.d[j] - a;
                s = s + t * t;
            }
            s = (s / F::n(n1 - 1)).sqrt();
            if s > F::ZERO {
                let mut j = 1;
                while j <= n1 {
                    let d1 = c.d[j];
                    let r = (d1 - a) / s;
                    if r < -ls || r > hs {
                        sc.resid[n1] = r.abs().to_r();
                        if j < n1 {
                            drop_to_end(c, j, n1);
                            j -= 1;
                        }
                        sum = sum - d1;
                        n1 -= 1;
                    }
                    j += 1;
                }
            }
        }
        if renews_mean(p, n1) {
            a = sum / F::n(n1);
        }
        if n1 == n2 || n1 <= 2.max(maxkeep) {
            break;
        }
    }
    if n1 < maxkeep {
        (n1, sum, _) = add_back_sorted(c, &mut sc.resid, n1, n2, maxkeep, sum);
        if renews_mean(p, n1) {
            a = sum / F::n(n1);
        }
    }
    c.n = n1;
    own.then(|| if n1 > 0 { a } else { blank(p) })
}

/// The clipping sigma of sigclip/ccdclip with mclip for image `l` at centre `med`
/// (`None`: the model's plain sigma is used without a per-image factor).
enum MedianModel {
    Sigclip,
    Ccd,
}

/// sigclip (`Sigclip`) or ccdclip/crreject (`Ccd`) with mclip=yes: clipping about the median of
/// sorted data (IRAF's `ic_msigclip` / `ic_mccdclip`). Returns the median output when combine is
/// a median.
fn median_clip<F: Px>(
    p: &Params,
    c: &mut Col<'_, F>,
    sc: &mut Scratch,
    model: &MedianModel,
) -> Option<F> {
    let minclip = match model {
        MedianModel::Sigclip => 3,
        MedianModel::Ccd => 2,
    };
    let n_all = c.n;
    let mut n1 = n_all;
    let maxkeep = p.maxkeep(n1);
    let (mut nl, mut nh) = (1usize, n1);
    let mut med;
    let mut n2;
    loop {
        n2 = n1;
        med = range_median(c.d, nl, n1, blank(p));
        if n1 >= minclip.max(maxkeep + 1) {
            match model {
                MedianModel::Sigclip => sig_pass(p, c, sc, med, &mut nl, &mut nh, &mut n1),
                MedianModel::Ccd => ccd_pass(p, c, sc, med, &mut nl, &mut nh, &mut n1),
            }
        }
        if n1 == n2 || n1 < minclip.max(maxkeep + 1) {
            break;
        }
    }
    if n1 < maxkeep {
        add_back_range(
            &sc.resid,
            &mut nl,
            &mut nh,
            n_all,
            tie_limit(p, n2, n_all),
            maxkeep,
        );
        n1 = nh + 1 - nl;
    }
    if !p.defects {
        // The median of the actual survivors, not the one from the start of the last pass.
        med = range_median(c.d, nl, n1, blank(p));
    }
    let med = lmed(p, c.d, nl, n1, med);
    c.n = n1;
    if n1 > 0 && nl > 1 && reorders(p) {
        compact_range(c, nl, n1, n1);
    }
    p.combine.is_median().then_some(med)
}

/// For lmedian the two-value case takes the lower value (`d[nl..]` is sorted). IRAF's clipping
/// algorithms treat lmedian as median and average the two (a defect, kept with `defects`).
fn lmed<F: Px>(p: &Params, d: &[F], nl: usize, n1: usize, med: F) -> F {
    if p.combine == Combine::LMedian && n1 == 2 && !p.defects {
        d[nl]
    } else {
        med
    }
}

/// One sigclip pass about `med` on sorted `d[nl..=nh]`.
fn sig_pass<F: Px>(
    p: &Params,
    c: &Col<'_, F>,
    sc: &mut Scratch,
    med: F,
    nl: &mut usize,
    nh: &mut usize,
    n1: &mut usize,
) {
    let mut s: f32 = 0.0;
    if p.doscale1 {
        for j in *nl..=*nh {
            let l = c.id[j] as usize;
            let r = fmax(F::ONE, (med + F::r(p.zeros[l])) / F::r(p.scales[l]))
                .sqrt()
                .to_r();
            let t = (c.d[j] - med) / F::r(r);
            s = (F::r(s) + t * t).to_r();
            sc.w[j] = r;
        }
    } else {
        for j in *nl..=*nh {
            let t = c.d[j] - med;
            s = (F::r(s) + t * t).to_r();
        }
    }
    s = (s / (*n1 - 1) as f32).sqrt();
    if s <= 0.0 {
        return;
    }
    let factor = |j: usize| if p.doscale1 { s * sc.w[j] } else { s };
    while *nl <= *nh {
        let r = ((med - c.d[*nl]) / F::r(factor(*nl))).to_r();
        if r <= p.lsigma {
            break;
        }
        sc.resid[*nl] = r;
        *n1 -= 1;
        *nl += 1;
    }
    while *nh >= *nl {
        let r = ((c.d[*nh] - med) / F::r(factor(*nh))).to_r();
        if r <= p.hsigma {
            break;
        }
        sc.resid[*nh] = r;
        *n1 -= 1;
        *nh -= 1;
    }
}

/// The CCD noise variance (DN^2) of image `l` at level `level` (real arithmetic).
#[inline]
fn ccd_var(nm: &[f32; 3], level: f32) -> f32 {
    let t = level * nm[2];
    nm[0] + level / nm[1] + t * t
}

/// One ccdclip pass about `med` on sorted `d[nl..=nh]`.
fn ccd_pass<F: Px>(
    p: &Params,
    c: &Col<'_, F>,
    sc: &mut Scratch,
    med: F,
    nl: &mut usize,
    nh: &mut usize,
    n1: &mut usize,
) {
    let sigma_of = |j: usize| -> f32 {
        let l = c.id[j] as usize;
        if p.doscale1 {
            let s = p.scales[l];
            let r = fmax(F::ZERO, F::r(s) * (med + F::r(p.zeros[l]))).to_r();
            sqrt_div(ccd_var(&p.noise[l], r), s)
        } else {
            ccd_var(&p.noise[l], fmax(F::ZERO, med).to_r()).sqrt()
        }
    };
    while *nl <= *nh {
        let r = ((med - c.d[*nl]) / F::r(sigma_of(*nl))).to_r();
        if r <= p.lsigma {
            break;
        }
        sc.resid[*nl] = r;
        *n1 -= 1;
        *nl += 1;
    }
    while *nh >= *nl {
        let r = ((c.d[*nh] - med) / F::r(sigma_of(*nh))).to_r();
        if r <= p.hsigma {
            break;
        }
        sc.resid[*nh] = r;
        *n1 -= 1;
        *nh -= 1;
    }
}

/// sigclip with mclip=yes (IRAF's `ic_msigclip`).
pub fn msigclip<F: Px>(p: &Params, c: &mut Col<'_, F>, sc: &mut Scratch) -> Option<F> {
    median_clip(p, c, sc, &MedianModel::Sigclip)
}

/// ccdclip/crreject with mclip=yes (IRAF's `ic_mccdclip`).
pub fn mccdclip<F: Px>(p: &Params, c: &mut Col<'_, F>, sc: &mut Scratch) -> Option<F> {
    median_clip(p, c, sc, &MedianModel::Ccd)
}

/// ccdclip/crreject with mclip=no (IRAF's `ic_accdclip`): the centre is the mean without the
/// lowest and highest value on every pass.
pub fn accdclip<F: Px>(p: &Params, c: &mut Col<'_, F>, sc: &mut Scratch, own: bool) -> Option<F> {
    let mut n1 = c.n;
    let maxkeep = p.maxkeep(n1);
    if n1 <= 1.max(maxkeep) {
        return own.then(|| plain_average(p, c.d, n1));
    }
    let (ls, hs) = (F::r(p.lsigma), F::r(p.hsigma));
    let mut sum;
    let mut n2;
    loop {
        let a;
        if n1 == 2 {
            sum = c.d[1] + c.d[2];
            a = sum / F::TWO;
        } else {
            (a, sum) = trimmed(c.d, n1);
        }
        n2 = n1;
        let mut j = 1;
        while j <= n1 {
            let l = c.id[j] as usize;
            let nm = &p.noise[l];
            let s = if p.doscale1 {
                let s = F::r(p.scales[l]);
                let d1 = fmax(F::ZERO, s * (a + F::r(p.zeros[l])));
                let t = d1 * F::r(nm[2]);
                sqrt_div(F::r(nm[0]) + d1 / F::r(nm[1]) + t * t, s)
            } else {
                let s = fmax(F::ZERO, a);
                let t = s * F::r(nm[2]);
                (F::r(nm[0]) + s / F::r(nm[1]) + t * t).sqrt()
            };
            let d1 = c.d[j];
            let r = (d1 - a) / s;
            if r < -ls || r > hs {
                sc.resid[n1] = r.abs().to_r();
                if j < n1 {
                    drop_to_end(c, j, n1);
                    j -= 1;
                }
                sum = sum - d1;
                n1 -= 1;
            }
            j += 1;
        }
        if n1 == n2 || n1 < 2.max(maxkeep + 1) {
            break;
        }
    }
    if n1 < maxkeep {
        (n1, sum, _) = add_back_sorted(c, &mut sc.resid, n1, n2, maxkeep, sum);
    }
    c.n = n1;
    own.then(|| if n1 > 0 { sum / F::n(n1) } else { blank(p) })
}

/// pclip (IRAF's `ic_pclip`) on sorted data; `p.pclip` is the signed pixel offset.
pub fn pclip<F: Px>(p: &Params, c: &mut Col<'_, F>, sc: &mut Scratch) -> Option<F> {
    let n1 = c.n;
    if n1 == 0 {
        return p.combine.is_median().then(|| blank(p));
    }
    let maxkeep = p.maxkeep(n1);
    let n2 = 1 + n1 / 2;
    let even = n1.is_multiple_of(2);
    let n3 = if p.pclip < 0.0 {
        let base = if even { n2 as f32 - 1.0 } else { n2 as f32 };
        nint(base + p.pclip).max(1) as usize
    } else {
        (nint(n2 as f32 + p.pclip) as usize).min(n1)
    };
    let mut med = if even {
        (c.d[n2 - 1] + c.d[n2]) / F::TWO
    } else {
        c.d[n2]
    };
    if n1 < 3.max(maxkeep + 1) {
        return p.combine.is_median().then(|| lmed(p, c.d, 1, n1, med));
    }
    let t: f32 = if p.pclip < 0.0 { -1.0 } else { 1.0 };
    let sigma = (F::r(t) * (c.d[n3] - med)).to_r();
    if sigma == 0.0 {
        return p.combine.is_median().then(|| lmed(p, c.d, 1, n1, med));
    }
    let mut nl = 1usize;
    while nl <= n1 {
        let r = ((med - c.d[nl]) / F::r(sigma)).to_r();
        if r < p.lsigma {
            break;
        }
        sc.resid[nl] = r;
        nl += 1;
    }
    let mut nh = n1;
    while nh >= 1 {
        let r = ((c.d[nh] - med) / F::r(sigma)).to_r();
        if r < p.hsigma {
            break;
        }
        sc.resid[nh] = r;
        nh -= 1;
    }
    if nh + 1 < nl {
        // Every value was rejected from both sides at once; IRAF's count would go negative.
        nh = nl - 1;
    }
    let mut n4 = nh + 1 - nl;
    if n4 < maxkeep {
        add_back_range(
            &sc.resid,
            &mut nl,
            &mut nh,
            n1,
            tie_limit(p, n2, n1),
            maxkeep,
        );
        n4 = nh + 1 - nl;
    }
    if nl > 1 || nh < n1 {
        med = range_median(c.d, nl, n4, blank(p));
        c.n = n4;
    }
    let med = lmed(p, c.d, nl, n4, med);
    if nl > 1 && reorders(p) {
        compact_range(c, nl, n4, n1);
    }
    p.combine.is_median().then_some(med)
}

/// minmax (IRAF's `ic_mm`): rejects `int(flow*n + 0.001)` lowest and `int(fhigh*n + 0.001)`
/// highest of the `n` usable values, in pairs first, keeping IRAF's data movement.
pub fn minmax<F: Px>(p: &Params, c: &mut Col<'_, F>) {
    let mut n1 = c.n;
    let nlow0 = (p.flow * n1 as f32 + 0.001) as usize;
    let nhigh0 = (p.fhigh * n1 as f32 + 0.001) as usize;
    let npairs = nlow0.min(nhigh0);
    let (nlow, nhigh) = (nlow0 - npairs, nhigh0 - npairs);
    let d = &mut *c.d;
    let id = &mut *c.id;
    for _ in 0..npairs {
        let mut d1 = d[1];
        let mut d2 = d1;
        let (mut dmax, mut dmin) = (d1, d1);
        let (mut jmax, mut jmin) = (1usize, 1usize);
        for j in 2..=n1 {
            d2 = d1;
            d1 = d[j];
            if d1 > dmax {
                dmax = d1;
                jmax = j;
            } else if d1 < dmin {
                dmin = d1;
                jmin = j;
            }
        }
        let j = n1 - 1;
        if jmax < j {
            if jmin == j {
                d[jmax] = d1;
                id.swap(jmax, n1);
            } else {
                d[jmax] = d2;
                id.swap(jmax, j);
            }
        }
        if jmin < j {
            if jmax == n1 {
                d[jmin] = d2;
                id.swap(jmin, j);
            } else {
                d[jmin] = d1;
                id.swap(jmin, n1);
            }
        }
        n1 -= 2;
    }
    for _ in 0..nlow {
        let mut d1 = d[1];
        let mut dmin = d1;
        let mut jmin = 1usize;
        for j in 2..=n1 {
            d1 = d[j];
            if d1 < dmin {
                dmin = d1;
                jmin = j;
            }
        }
        if jmin < n1 {
            d[jmin] = d1;
            id.swap(jmin, n1);
        }
        n1 -= 1;
    }
    for _ in 0..nhigh {
        let mut d1 = d[1];
        let mut dmax = d1;
        let mut jmax = 1usize;
        for j in 2..=n1 {
            d1 = d[j];
            if d1 > dmax {
                dmax = d1;
                jmax = j;
            }
        }
        if jmax < n1 {
            d[jmax] = d1;
            id.swap(jmax, n1);
        }
        n1 -= 1;
    }
    c.n = n1;
}

/// The per-row state avsigclip needs: every pixel's column of the row.
pub struct RowCols<'a, F> {
    pub d: &'a mut [F],
    pub id: &'a mut [u16],
    pub n: &'a mut [usize],
    /// Slots per pixel (`nimages + 1`).
    pub stride: usize,
}

impl<F: Px> RowCols<'_, F> {
    fn col(&mut self, x: usize) -> Col<'_, F> {
        let s = self.stride;
        let n = self.n[x];
        Col {
            d: &mut self.d[x * s..(x + 1) * s],
            id: &mut self.id[x * s..(x + 1) * s],
            n,
            n0: n,
        }
    }
}

/// avsigclip with mclip=yes (IRAF's `ic_mavsigclip`) over one row. Writes medians into `out`
/// when combine is a median and returns whether it did.
#[allow(clippy::too_many_lines)] // ic_mavsigclip statement by statement, to read beside IRAF's
pub fn mavsigclip_row<F: Px>(
    p: &Params,
    row: &mut RowCols<'_, F>,
    sc: &mut Scratch,
    out: &mut [F],
) -> bool {
    let npts = row.n.len();
    let mut s = F::ZERO;
    let mut n2 = 0usize;
    let mut meds = vec![F::ZERO; npts];
    for x in 0..npts {
        let c = row.col(x);
        let n1 = c.n;
        if n1 < 3 {
            meds[x] = match n1 {
                0 => blank(p),
                1 => c.d[1],
                _ => (c.d[1] + c.d[2]) / F::TWO,
            };
            continue;
        }
        let med = range_median(c.d, 1, n1, blank(p));
        for j in 1..=n1 {
            let s1 = if p.doscale1 {
                let l = c.id[j] as usize;
                fmax(F::ONE, (med + F::r(p.zeros[l])) / F::r(p.scales[l]))
            } else {
                fmax(F::ONE, med)
            };
            let t = c.d[j] - med;
            s = s + t * t / s1;
        }
        n2 += n1;
        meds[x] = med;
    }
    if n2 <= 1 {
        if p.combine.is_median() {
            // No clipping happens; two values still give the lower one for lmedian.
            for (x, o) in out.iter_mut().enumerate() {
                let c = row.col(x);
                *o = lmed(p, c.d, 1, c.n, meds[x]);
            }
            return true;
        }
        return false;
    }
    let sig = (s / F::n(n2 - 1)).sqrt();
    for x in 0..npts {
        let mut c = row.col(x);
        let n_all = c.n;
        let mut n1 = n_all;
        let maxkeep = p.maxkeep(n1);
        if n1 < 3.max(maxkeep + 1) {
            out[x] = lmed(p, c.d, 1, n1, meds[x]);
            continue;
        }
        let (mut nl, mut nh) = (1usize, n1);
        let mut med = meds[x];
        let mut n2;
        loop {
            n2 = n1;
            if n1 >= 3.max(maxkeep + 1) && sig > F::ZERO {
                let s1_of = |j: usize| {
                    if p.doscale1 {
                        let l = c.id[j] as usize;
                        mul_sqrt(
                            sig,
                            fmax(F::ONE, (med + F::r(p.zeros[l])) / F::r(p.scales[l])),
                        )
                    } else {
                        mul_sqrt(sig, fmax(F::ONE, med))
                    }
                };
                while nl <= nh {
                    let r = (med - c.d[nl]) / s1_of(nl);
                    if r <= F::r(p.lsigma) {
                        break;
                    }
                    sc.resid[nl] = r.to_r();
                    n1 -= 1;
                    nl += 1;
                }
                while nh >= nl {
                    let r = (c.d[nh] - med) / s1_of(nh);
                    if r <= F::r(p.hsigma) {
                        break;
                    }
                    sc.resid[nh] = r.to_r();
                    n1 -= 1;
                    nh -= 1;
                }
                if n1 < n2 {
                    med = range_median(c.d, nl, n1, blank(p));
                }
            }
            if n1 == n2 || n1 < 3.max(maxkeep + 1) {
                break;
            }
        }
        if n1 < maxkeep {
            add_back_range(
                &sc.resid,
                &mut nl,
                &mut nh,
                n_all,
                tie_limit(p, n2, n_all),
                maxkeep,
            );
            n1 = nh + 1 - nl;
            // IRAF recomputes the median after a widening only while fewer than the last
            // pass's count are kept.
            if n1 < n2 || !p.defects {
                med = range_median(c.d, nl, n1, blank(p));
            }
        }
        let med = lmed(p, c.d, nl, n1, med);
        c.n = n1;
        if n1 > 0 && nl > 1 && reorders(p) {
            compact_range(&mut c, nl, n1, n1);
        }
        out[x] = med;
        row.n[x] = n1;
    }
    p.combine.is_median()
}

/// avsigclip with mclip=no (IRAF's `ic_aavsigclip`) over one row. Writes averages into `out`
/// when the plain average is the output (`own`) and returns whether it did.
pub fn aavsigclip_row<F: Px>(
    p: &Params,
    row: &mut RowCols<'_, F>,
    sc: &mut Scratch,
    out: &mut [F],
    own: bool,
) -> bool {
    let npts = row.n.len();
    let mut s = F::ZERO;
    let mut n2 = 0usize;
    let mut sums = vec![0.0f32; npts];
    let mut avgs = vec![F::ZERO; npts];
    for x in 0..npts {
        let c = row.col(x);
        let n1 = c.n;
        if n1 < 3 {
            continue;
        }
        let (a, sum) = trimmed(c.d, n1);
        for j in 1..=n1 {
            let s1 = if p.doscale1 {
                let l = c.id[j] as usize;
                fmax(F::ONE, (a + F::r(p.zeros[l])) / F::r(p.scales[l]))
            } else {
                fmax(F::ONE, a)
            };
            let t = c.d[j] - a;
            s = s + t * t / s1;
        }
        n2 += n1;
        avgs[x] = a;
        sums[x] = sum.to_r();
    }
    if n2 > 1 {
        s = (s / F::n(n2 - 1)).sqrt();
    }
    let (ls, hs) = (F::r(p.lsigma), F::r(p.hsigma));
    for x in 0..npts {
        let mut c = row.col(x);
        let mut n1 = c.n;
        let maxkeep = p.maxkeep(n1);
        if n1 <= 2.max(maxkeep) {
            if own {
                out[x] = plain_average(p, c.d, n1);
            }
            continue;
        }
        let mut a = avgs[x];
        let mut sum = F::r(sums[x]);
        let mut n2;
        loop {
            n2 = n1;
            if s > F::ZERO {
                let mut j = 1;
                while j <= n1 {
                    let s1 = if p.doscale1 {
                        let l = c.id[j] as usize;
                        mul_sqrt(s, fmax(F::ONE, (a + F::r(p.zeros[l])) / F::r(p.scales[l])))
                    } else {
                        mul_sqrt(s, fmax(F::ONE, a))
                    };
                    let d1 = c.d[j];
                    let r = (d1 - a) / s1;
                    if r < -ls || r > hs {
                        sc.resid[n1] = r.abs().to_r();
                        if j < n1 {
                            drop_to_end(&mut c, j, n1);
                            j -= 1;
                        }
                        sum = sum - d1;
                        n1 -= 1;
                    }
                    j += 1;
                }
            }
            if renews_mean(p, n1) {
                a = sum / F::n(n1);
            }
            if n1 == n2 || n1 <= 2.max(maxkeep) {
                break;
            }
        }
        if n1 < maxkeep {
            let last;
            (n1, sum, last) = add_back_sorted(&mut c, &mut sc.resid, n1, n2, maxkeep, sum);
            if p.defects {
                // IRAF reuses the row's sigma variable for the residuals of the add-back, so
                // later pixels of the row are clipped with the last residual compared.
                if let Some(r) = last {
                    s = F::r(r);
                }
            }
            if renews_mean(p, n1) {
                a = sum / F::n(n1);
            }
        }
        c.n = n1;
        if own {
            out[x] = if n1 > 0 { a } else { blank(p) };
        }
        row.n[x] = n1;
    }
    own
}
