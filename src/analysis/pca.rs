//! Principal components (by SVD of the centred data, in f64) and the DINOv2-style feature PCA.
//!
//! Signs of principal components are arbitrary; here each component is flipped so that its loading of
//! largest magnitude is positive, which makes results reproducible across runs, devices and libraries.
//!
//! **Feature PCA** of the patch features of one layer, over one image or jointly over several:
//! ```text
//! X = patch features of every image, stacked            [Σ patches, D]
//! s = first principal component scores of X, oriented so that border patches score lower than the rest
//!     on average (the background usually touches the border), min–max scaled to [0, 1] over all images
//! foreground = s > τ_fg                                   (all patches when no threshold is given)
//! RGB = the first three principal components of X[foreground], each min–max scaled to [0, 1] over the
//!       foreground; background patches are black
//! ```
use tch::{Device, Kind, Tensor};

type Result<T> = std::result::Result<T, super::AnalysisError>;

pub struct Pca {
    /// `[k, d]` f64, rows are unit-length components.
    pub components: Tensor,
    /// `[n, k]` f64: the centred data projected on the components.
    pub scores: Tensor,
    /// Fraction of the total variance each component explains.
    pub explained: Vec<f64>,
}

/// The top `k` principal components of the rows of `x` `[n, d]`.
pub fn pca(x: &Tensor, k: usize) -> Result<Pca> {
    let x = x.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?;
    let size = x.size();
    let (n, d) = (size[0], size[1]);
    let k = (k as i64).min(n).min(d);
    if k < 1 {
        return Err(super::AnalysisError::Invalid(format!(
            "PCA needs data: got {n} rows of {d} values"
        )));
    }
    let xc = x.f_sub(&x.f_mean_dim(0, true, None)?)?;
    let (_, s, v) = xc.f_svd(true, true)?;
    let vh = v.f_transpose(0, 1)?;
    let mut comps = vh.f_narrow(0, 0, k)?;
    // Flip each component so its largest-magnitude loading is positive.
    let idx = comps.f_abs()?.f_argmax(1, true)?;
    let sign = comps.f_gather(1, &idx, false)?.f_sign()?;
    let sign = sign.f_where_scalarother(&sign.f_ne(0.0)?, 1.0)?;
    comps = comps.f_mul(&sign)?;
    let var = s.f_square()?;
    let total = var.f_sum(None)?.f_double_value(&[])?.max(1e-300);
    let explained = Vec::<f64>::try_from(var.f_narrow(0, 0, k)?.f_div_scalar(total)?)?;
    Ok(Pca {
        scores: xc.f_matmul(&comps.f_transpose(0, 1)?)?,
        components: comps,
        explained,
    })
}

/// Min–max scale each column of `x` `[n, k]` to [0, 1] (a constant column becomes 0).
pub fn min_max_columns(x: &Tensor) -> Result<Tensor> {
    let lo = x.f_amin(0, true)?;
    let hi = x.f_amax(0, true)?;
    Ok(x.f_sub(&lo)?.f_div(&hi.f_sub(&lo)?.f_clamp_min(1e-30)?)?)
}

/// One image's result of [`feature_pca`].
#[derive(Debug, Clone, PartialEq)]
pub struct FeaturePcaImage {
    pub grid_h: usize,
    pub grid_w: usize,
    /// The oriented first component, scaled to [0, 1] jointly over all images: `[grid_h·grid_w]`.
    pub first: Vec<f32>,
    pub foreground: Vec<bool>,
    /// `[grid_h·grid_w·3]`, in [0, 1], black outside the foreground.
    pub rgb: Vec<f32>,
}

/// Feature PCA (see the module docs). `features` holds each image's patch features `[Np, D]` with its grid.
pub fn feature_pca(
    features: &[(Tensor, usize, usize)],
    foreground_threshold: Option<f64>,
) -> Result<Vec<FeaturePcaImage>> {
    let _guard = tch::no_grad_guard();
    if features.is_empty() {
        return Err(super::AnalysisError::Invalid(
            "feature PCA needs at least one image".into(),
        ));
    }
    let mut xs = Vec::new();
    let mut border = Vec::new();
    for (f, gh, gw) in features {
        if f.size()[0] != (gh * gw) as i64 {
            return Err(super::AnalysisError::Invalid(format!(
                "{} features for a {gh}x{gw} grid",
                f.size()[0]
            )));
        }
        xs.push(f.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?);
        border.extend((0..gh * gw).map(|p| {
            let (r, c) = (p / gw, p % gw);
            r == 0 || c == 0 || r + 1 == *gh || c + 1 == *gw
        }));
    }
    let x = Tensor::f_cat(&xs, 0)?;
    let s1 = Vec::<f64>::try_from(pca(&x, 1)?.scores.f_squeeze_dim(1)?)?;
    let mean_of = |want: bool| {
        let v: Vec<f64> = s1
            .iter()
            .zip(&border)
            .filter(|(_, b)| **b == want)
            .map(|(s, _)| *s)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let flip = matches!((mean_of(true), mean_of(false)), (Some(b), Some(i)) if b > i);
    let s1: Vec<f64> = s1.iter().map(|s| if flip { -s } else { *s }).collect();
    let (lo, hi) = s1
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    let first: Vec<f64> = s1.iter().map(|v| (v - lo) / (hi - lo).max(1e-30)).collect();
    let fg: Vec<bool> = first
        .iter()
        .map(|v| foreground_threshold.is_none_or(|t| *v > t))
        .collect();
    let fg_idx: Vec<i64> = (0..fg.len() as i64).filter(|i| fg[*i as usize]).collect();
    if fg_idx.len() < 2 {
        return Err(super::AnalysisError::Invalid(format!(
            "{} foreground patch(es) at threshold {:?}: lower the threshold",
            fg_idx.len(),
            foreground_threshold
        )));
    }
    let xf = x.f_index_select(0, &Tensor::f_from_slice(&fg_idx)?)?;
    let scores = min_max_columns(&pca(&xf, 3)?.scores)?;
    let k = scores.size()[1] as usize;
    let scores = Vec::<f64>::try_from(scores.f_flatten(0, -1)?)?;
    let mut rgb = vec![0f32; fg.len() * 3];
    for (row, &i) in fg_idx.iter().enumerate() {
        for c in 0..k {
            rgb[i as usize * 3 + c] = scores[row * k + c] as f32;
        }
    }
    let mut out = Vec::new();
    let mut at = 0;
    for (_, gh, gw) in features {
        let n = gh * gw;
        out.push(FeaturePcaImage {
            grid_h: *gh,
            grid_w: *gw,
            first: first[at..at + n].iter().map(|v| *v as f32).collect(),
            foreground: fg[at..at + n].to_vec(),
            rgb: rgb[at * 3..(at + n) * 3].to_vec(),
        });
        at += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_recovers_a_dominant_direction_with_a_fixed_sign() {
        // Points along (1, −2, 0.5) with small noise: the first component is ± that direction.
        tch::manual_seed(0);
        let t = Tensor::randn([200, 1], (Kind::Double, Device::Cpu));
        let dir = Tensor::from_slice(&[1.0f64, -2.0, 0.5]).reshape([1, 3]);
        let x = t.matmul(&dir) + Tensor::randn([200, 3], (Kind::Double, Device::Cpu)) * 0.01;
        let p = pca(&x.neg(), 2).unwrap();
        let c = Vec::<f64>::try_from(p.components.get(0)).unwrap();
        let norm = (1.0f64 + 4.0 + 0.25).sqrt();
        // Largest loading (−2) made positive.
        for (got, want) in c.iter().zip([-1.0, 2.0, -0.5]) {
            assert!((got - want / norm).abs() < 1e-3, "{c:?}");
        }
        assert!(p.explained[0] > 0.99);
    }
}
