//! Mean attention distance (ViT paper, Fig. 7 right) and attention entropy, per layer and head.
//!
//! ```text
//! d(l, h) = mean over query patches i of  Σ_j A'[i, j] · P · ‖g_i − g_j‖      (pixels at the model input)
//! H(l, h) = mean over query patches i of −Σ_k A[i, k] · ln A[i, k]            (nats, over all N keys)
//! ```
//! `g_i` is patch i's (row, col) in the grid, `P` the patch size, and `j` runs over patch keys only. Queries
//! are patch tokens; prefix tokens (CLS, registers…) have no position. How the mass a query gives to prefix
//! keys is handled ([`PrefixConvention`]):
//! - `renormalise`: drop prefix keys and renormalise the row over the patches, `A' = A / Σ_patches A` (the
//!   distance among the patch keys the query attends to; what most re-implementations do);
//! - `drop`: drop prefix keys without renormalising, `A' = A` (prefix mass adds nothing, so heads that park
//!   attention on CLS/registers come out shorter).
//!
//! Over several images each image counts once: `d` and `H` are the means of the per-image values.
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::source::{AttentionSource, block_rows};
use crate::model::TokenLayout;

type Result<T> = std::result::Result<T, super::AnalysisError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PrefixConvention {
    #[default]
    Renormalise,
    Drop,
}

/// Per layer and head: `[layers × heads]`, row-major.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeadStats {
    pub layers: usize,
    pub heads: usize,
    pub distance_px: Vec<f64>,
    pub entropy: Vec<f64>,
    /// Images averaged.
    pub images: usize,
}

impl HeadStats {
    pub fn distance(&self, layer: usize, head: usize) -> f64 {
        self.distance_px[layer * self.heads + head]
    }
    pub fn entropy(&self, layer: usize, head: usize) -> f64 {
        self.entropy[layer * self.heads + head]
    }

    /// Accumulate another image's stats (each image weighs the same).
    pub fn add(&mut self, other: &HeadStats) -> Result<()> {
        if (self.layers, self.heads) != (other.layers, other.heads) {
            return Err(super::AnalysisError::Invalid(
                "stats of different models".into(),
            ));
        }
        let (a, b) = (self.images as f64, other.images as f64);
        let mix = |x: &mut Vec<f64>, y: &[f64]| {
            x.iter_mut()
                .zip(y)
                .for_each(|(x, y)| *x = (*x * a + y * b) / (a + b))
        };
        mix(&mut self.distance_px, &other.distance_px);
        mix(&mut self.entropy, &other.entropy);
        self.images += other.images;
        Ok(())
    }

    /// CSV with columns `layer,head,mean_distance_px,entropy`.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("layer,head,mean_distance_px,entropy\n");
        for l in 0..self.layers {
            for h in 0..self.heads {
                s += &format!(
                    "{l},{h},{:.6},{:.6}\n",
                    self.distance(l, h),
                    self.entropy(l, h)
                );
            }
        }
        s
    }
}

/// Pairwise patch-centre distances in pixels, `[Np, Np]` f32.
///
/// Computed here rather than with `cdist`: cdist takes a matrix-product shortcut above 25 rows whose rounding
/// depends on how the BLAS splits the work, so the same image gave different tables from run to run. Each entry
/// is the correctly rounded distance, the same on every machine and device.
fn patch_distances(layout: &TokenLayout, device: tch::Device) -> Result<Tensor> {
    let (gh, gw) = (layout.grid_h, layout.grid_w);
    let n = gh * gw;
    let patch = layout.patch_size as f64;
    let mut d = Vec::with_capacity(n * n);
    for i in 0..n {
        let (ri, ci) = ((i / gw) as f64, (i % gw) as f64);
        d.extend((0..n).map(|j| {
            let (dy, dx) = (ri - (j / gw) as f64, ci - (j % gw) as f64);
            ((dy * dy + dx * dx).sqrt() * patch) as f32
        }));
    }
    Ok(Tensor::f_from_slice(&d)?
        .f_reshape([n as i64, n as i64])?
        .f_to_device(device)?)
}

/// Mean attention distance and entropy of every layer and head for one image.
pub fn head_stats<S: AttentionSource + ?Sized>(
    attention: &S,
    layout: &TokenLayout,
    convention: PrefixConvention,
) -> Result<HeadStats> {
    let _guard = tch::no_grad_guard();
    if attention.layers() == 0 {
        return Err(super::AnalysisError::Invalid(
            "no attention captured".into(),
        ));
    }
    let heads = attention.heads();
    let device = attention.device();
    let np = layout.num_prefix() as i64;
    let npatch = layout.num_patches() as i64;
    let dist = patch_distances(layout, device)?;
    // Patch queries in blocks (blocks outside, layers inside), so the temporaries stay small even at
    // thousands of tokens.
    let layers = attention.layers();
    let block = block_rows(heads, layout.num_tokens());
    let zeros = || Tensor::f_zeros([heads as i64], (Kind::Double, device));
    let mut d_sum = (0..layers)
        .map(|_| zeros())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut h_sum = (0..layers)
        .map(|_| zeros())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut start = 0;
    while start < npatch {
        let len = block.min(npatch - start);
        let dist_rows = dist.f_narrow(0, start, len)?; // [len, Np]
        for l in 0..layers {
            let rows = attention.rows(l, np + start, len)?; // [H, len, N]: patch queries
            let to_patches = rows.f_narrow(2, np, npatch)?; // [H, len, Np]
            let mut d = to_patches
                .f_mul(&dist_rows)?
                .f_sum_dim_intlist(-1, false, None)?; // [H, len]
            if convention == PrefixConvention::Renormalise {
                let s = to_patches
                    .f_sum_dim_intlist(-1, false, None)?
                    .f_clamp_min(1e-30)?;
                d = d.f_div(&s)?;
            }
            // Σ a·ln a with 0·ln 0 = 0 (xlogy; a NaN still comes out NaN). Not `log_`: on the CPU that goes to
            // MKL's vector math, whose last bit depends on where the buffer happens to be aligned, so the same
            // image gave entropies differing in the 7th digit from run to run; xlogy's own vectorised log
            // does not.
            let h = rows.f_xlogy(&rows)?.f_sum_dim_intlist(-1, false, None)?; // [H, len]
            d_sum[l] = d_sum[l].f_add(&d.f_sum_dim_intlist(-1, false, Some(Kind::Double))?)?;
            h_sum[l] = h_sum[l].f_sub(&h.f_sum_dim_intlist(-1, false, Some(Kind::Double))?)?;
        }
        start += len;
    }
    let n = npatch as f64;
    let per_query = |sums: &[Tensor]| -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(layers * heads);
        for t in sums {
            out.extend(
                Vec::<f64>::try_from(t.f_to_device(tch::Device::Cpu)?)?
                    .into_iter()
                    .map(|v| v / n),
            );
        }
        Ok(out)
    };
    let (distance_px, entropy) = (per_query(&d_sum)?, per_query(&h_sum)?);
    Ok(HeadStats {
        layers: attention.layers(),
        heads,
        distance_px,
        entropy,
        images: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn layout(prefix: usize) -> TokenLayout {
        TokenLayout {
            prefix: (0..prefix)
                .map(crate::model::PrefixToken::Register)
                .collect(),
            grid_h: 3,
            grid_w: 4,
            patch_size: 16,
        }
    }

    #[test]
    fn identity_attention_has_zero_distance_and_entropy() {
        let eye = Tensor::eye(13, (Kind::Float, Device::Cpu))
            .unsqueeze(0)
            .repeat([2, 1, 1]);
        let s = head_stats(&[eye][..], &layout(1), PrefixConvention::Renormalise).unwrap();
        assert_eq!(s.distance_px, vec![0.0, 0.0]);
        assert!(s.entropy.iter().all(|e| e.abs() < 1e-5), "{:?}", s.entropy);
        // A NaN in the attention (NaN weights) shows as NaN, not as a plausible number.
        let a = Tensor::full([1, 13, 13], 1.0 / 13.0, (Kind::Float, Device::Cpu));
        let _ = a.get(0).get(5).get(7).fill_(f64::NAN);
        let s = head_stats(&[a][..], &layout(1), PrefixConvention::Drop).unwrap();
        assert!(s.entropy[0].is_nan() && s.distance_px[0].is_nan(), "{s:?}");
    }

    #[test]
    fn entropy_does_not_depend_on_where_the_maps_sit_in_memory() {
        // The same attention at 16 float offsets in its buffer (different alignments) gives bit-identical
        // statistics: nothing on the way may pick a code path by alignment.
        let l = TokenLayout {
            prefix: vec![crate::model::PrefixToken::Cls],
            grid_h: 20,
            grid_w: 21,
            patch_size: 14,
        };
        let n = l.num_tokens() as i64;
        tch::manual_seed(7);
        let a = Tensor::randn([3, n, n], (Kind::Float, Device::Cpu))
            .f_softmax(-1, Kind::Float)
            .unwrap();
        let flat = a.reshape([-1]);
        let stats = |offset: i64| {
            let buf = Tensor::zeros([3 * n * n + 16], (Kind::Float, Device::Cpu));
            let mut view = buf.narrow(0, offset, 3 * n * n);
            view.copy_(&flat);
            let moved = view.view([3, n, n]);
            head_stats(&[moved][..], &l, PrefixConvention::Renormalise).unwrap()
        };
        let first = stats(0);
        for offset in 1..16 {
            let s = stats(offset);
            assert_eq!(s.entropy, first.entropy, "offset {offset}");
            assert_eq!(s.distance_px, first.distance_px, "offset {offset}");
        }
    }

    #[test]
    fn right_neighbour_attention_is_one_patch_away() {
        // Every patch attends fully to the patch to its right (or itself at the right edge):
        // 9 of the 12 queries move by 16 px.
        let l = layout(0);
        let mut a = vec![0f32; 144];
        for r in 0..3 {
            for c in 0..4 {
                let i = r * 4 + c;
                let j = if c < 3 { i + 1 } else { i };
                a[i * 12 + j] = 1.0;
            }
        }
        let a = Tensor::from_slice(&a).reshape([1, 12, 12]);
        let s = head_stats(&[a][..], &l, PrefixConvention::Drop).unwrap();
        assert!(
            (s.distance_px[0] - 16.0 * 9.0 / 12.0).abs() < 1e-4,
            "{:?}",
            s.distance_px
        );
    }

    #[test]
    fn patch_distances_are_exact_on_a_large_grid() {
        // 37×41 patches (over cdist's 25-row shortcut, whose rounding changed from run to run): every entry is
        // the correctly rounded Euclidean distance, the diagonal is exactly 0 and the matrix is symmetric.
        let l = TokenLayout {
            prefix: vec![],
            grid_h: 37,
            grid_w: 41,
            patch_size: 14,
        };
        let d = patch_distances(&l, Device::Cpu).unwrap();
        let n = 37 * 41;
        assert_eq!(d.size(), vec![n, n]);
        let v = Vec::<f32>::try_from(d.reshape([-1])).unwrap();
        for i in 0..n as usize {
            for j in (0..n as usize).step_by(7) {
                let (dy, dx) = (
                    (i / 41) as f32 - (j / 41) as f32,
                    (i % 41) as f32 - (j % 41) as f32,
                );
                let want = ((dy as f64).hypot(dx as f64) * 14.0) as f32;
                assert_eq!(v[i * n as usize + j].to_bits(), want.to_bits(), "{i} {j}");
                assert_eq!(
                    v[i * n as usize + j].to_bits(),
                    v[j * n as usize + i].to_bits()
                );
            }
        }
    }

    #[test]
    fn the_two_prefix_conventions_differ_by_the_prefix_mass() {
        // Uniform attention over 1 prefix + 12 patches: renormalised is the mean pairwise distance,
        // dropped is 12/13 of it.
        let a = Tensor::full([1, 13, 13], 1.0 / 13.0, (Kind::Float, Device::Cpu));
        let r = head_stats(
            &[a.shallow_clone()][..],
            &layout(1),
            PrefixConvention::Renormalise,
        )
        .unwrap();
        let d = head_stats(&[a][..], &layout(1), PrefixConvention::Drop).unwrap();
        assert!((d.distance_px[0] - r.distance_px[0] * 12.0 / 13.0).abs() < 1e-4);
        assert!((r.entropy[0] - 13f64.ln()).abs() < 1e-5);
    }
}
