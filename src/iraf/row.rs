//! Rejecting and combining one gathered row: the clipping algorithm chosen by `reject`
//! ([`super::clip`]), then the combined value, sigma, count and rejection mask of every pixel
//! ([`super::combine`]).

// The loops follow IRAF's 1-based index arithmetic on purpose, so that each step can be checked
// against the algorithm it reproduces.
#![allow(clippy::needless_range_loop, clippy::explicit_counter_loop)]

use super::clip::{self, Col, RowCols};
use super::{combine, Combine, Params, Px, Reject, RowBuf};
use crate::sample::Float;

/// The rejection step for one gathered row. Pixels whose output the algorithm computed are
/// written to `b.out` with `b.done` set.
pub(super) fn reject_row<F: Px>(
    p: &Params,
    nimages: usize,
    nx: usize,
    b: &mut RowBuf<F, impl Float>,
) {
    let minclip = match p.reject {
        Reject::None | Reject::MinMax => 0,
        Reject::CcdClip | Reject::CrReject => 2,
        _ => 3,
    };
    if p.reject == Reject::None || (minclip > 0 && nimages < minclip.max(p.maxkeep(nimages) + 1)) {
        return;
    }
    let stride = nimages + 1;
    // IRAF's docombine = false: the average algorithms return the plain average themselves.
    let own = p.combine == Combine::Average && !p.dowts;
    let RowBuf {
        d,
        id,
        n,
        out,
        done,
        sc,
        ..
    } = b;
    match p.reject {
        Reject::AvSigClip => {
            let mut row = RowCols { d, id, n, stride };
            let wrote = if p.mclip {
                clip::mavsigclip_row(p, &mut row, sc, out)
            } else {
                clip::aavsigclip_row(p, &mut row, sc, out, own)
            };
            if wrote {
                done.fill(true);
            }
        }
        _ => {
            for x in 0..nx {
                if done[x] {
                    // Finished by a tile run.
                    continue;
                }
                let mut c = Col {
                    d: &mut d[x * stride..(x + 1) * stride],
                    id: &mut id[x * stride..(x + 1) * stride],
                    n: n[x],
                    n0: n[x],
                };
                let r = match p.reject {
                    Reject::MinMax => {
                        clip::minmax(p, &mut c);
                        None
                    }
                    Reject::SigClip if p.mclip => clip::msigclip(p, &mut c, sc),
                    Reject::SigClip => clip::asigclip(p, &mut c, sc, own),
                    Reject::CcdClip | Reject::CrReject if p.mclip => clip::mccdclip(p, &mut c, sc),
                    Reject::CcdClip | Reject::CrReject => clip::accdclip(p, &mut c, sc, own),
                    Reject::PClip => clip::pclip(p, &mut c, sc),
                    Reject::None | Reject::AvSigClip => unreachable!(),
                };
                n[x] = c.n;
                if let Some(v) = r {
                    out[x] = v;
                    done[x] = true;
                }
            }
        }
    }
}

/// One row's part of the outputs: `nx` pixels of the image, sigma and counts, and `nx * N`
/// entries of the pixel-major rejection mask.
pub(super) struct RowSlices<'a, F> {
    pub(super) image: &'a mut [F],
    pub(super) sigma: Option<&'a mut [F]>,
    pub(super) ncomb: &'a mut [u16],
    pub(super) rej: Option<&'a mut [u8]>,
}

/// Combines the (rejected) row into `image`, `sigma`, `ncomb` and `rej` (IRAF's `ic_average`,
/// `ic_median`, `ic_sigma`, `ic_rmasks`). `keep` holds values to leave where nothing is left
/// (the first pass's output after a grow, when nkeep > 0).
pub(super) fn finish_row<F: Px>(
    p: &Params,
    nimages: usize,
    nx: usize,
    sorted: bool,
    b: &mut RowBuf<F, impl Float>,
    out: RowSlices<'_, F>,
    keep: Option<&[F]>,
) {
    let RowSlices {
        image,
        sigma,
        ncomb,
        rej,
    } = out;
    let stride = nimages + 1;
    let all = b.n.iter().all(|&k| k == nimages);
    for x in 0..nx {
        let n = b.n[x];
        let d = &mut b.d[x * stride..(x + 1) * stride];
        let id = &b.id[x * stride..(x + 1) * stride];
        let v = if b.done[x] {
            Some(b.out[x])
        } else if p.combine.is_median() {
            combine::median(p, d, n, sorted)
        } else {
            combine::average(p, d, id, n, all)
        };
        // IRAF's clipping routines report their (stale) median even when nothing is left.
        let stale = b.done[x] && p.defects;
        image[x] = match (v, keep) {
            (Some(v), _) if n > 0 || stale => v,
            (_, Some(k)) => k[x],
            _ => F::r(p.blank),
        };
        ncomb[x] = n as u16;
    }
    if let Some(sigma) = sigma {
        for x in 0..nx {
            let n = b.n[x];
            let d = &b.d[x * stride..(x + 1) * stride];
            let id = &b.id[x * stride..(x + 1) * stride];
            sigma[x] = combine::sigma(p, d, id, n, image[x], all).unwrap_or(F::r(p.blank));
        }
    }
    if let Some(rej) = rej {
        rej.fill(1);
        for x in 0..nx {
            let id = &b.id[x * stride..(x + 1) * stride];
            for &k in &id[1..=b.n[x]] {
                rej[x * nimages + k as usize] = 0;
            }
        }
    }
}
