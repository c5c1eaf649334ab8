//! What the embeddings learned (ViT paper, Fig. 7 left and centre).
//!
//! **Position-embedding similarity**: the cosine similarity between the position embeddings of patches
//! (prefix rows removed), `S[a, b] = cos(E_a, E_b)` for patches a, b of a `gh × gw` grid: `[gh, gw, gh, gw]`,
//! shown as a grid of tiles where tile (r, c) is patch (r, c)'s similarity to every patch. The grid is either
//! the one the model was trained for, or the current input's, with the embeddings resized exactly as the
//! forward pass resizes them.
//!
//! **Patch-embedding filters**: the `D` filters of the patch projection as vectors of length `3·P²`, centred
//! (the mean filter subtracted); their top principal components (28 by default), each reshaped to
//! `P × P × 3` and min–max scaled to [0, 1].
use tch::Kind;

use super::pca::{min_max_columns, pca};
use super::rollout::to_vec_f32;
use crate::model::Vit;

type Result<T> = std::result::Result<T, super::AnalysisError>;

/// A model's learned relative position bias over 2-D offsets, per block and head (Swin, BEiT): each tile is
/// `(2h−1) × (2w−1)`, the centre is offset (0, 0), row r / col c is offset (r − (h−1), c − (w−1)).
#[derive(Debug, Clone, PartialEq)]
pub struct RelativeBias {
    /// `tables[layer][head]`.
    pub tables: Vec<Vec<crate::grid::Grid>>,
}

/// The relative position bias tables of `vit`, `None` for a model without one.
pub fn relative_bias(vit: &Vit) -> Result<Option<RelativeBias>> {
    let Some(layers) = vit.relative_bias_tables()? else {
        return Ok(None);
    };
    let tables = layers
        .iter()
        .map(|t| -> Result<Vec<crate::grid::Grid>> {
            let (heads, h, w) = (t.size()[0], t.size()[1] as usize, t.size()[2] as usize);
            (0..heads)
                .map(|i| {
                    Ok(crate::grid::Grid {
                        h,
                        w,
                        data: Vec::<f32>::try_from(
                            t.f_get(i)?
                                .f_to_device(tch::Device::Cpu)?
                                .f_flatten(0, -1)?,
                        )?,
                    })
                })
                .collect()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(RelativeBias { tables }))
}

/// Position-embedding similarity `[gh·gw, gh·gw]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct PosSimilarity {
    pub grid_h: usize,
    pub grid_w: usize,
    pub data: Vec<f32>,
}

impl PosSimilarity {
    /// Patch (r, c)'s similarity to every patch, as a `gh × gw` grid.
    pub fn tile(&self, r: usize, c: usize) -> crate::grid::Grid {
        let n = self.grid_h * self.grid_w;
        let a = r * self.grid_w + c;
        crate::grid::Grid {
            h: self.grid_h,
            w: self.grid_w,
            data: self.data[a * n..(a + 1) * n].to_vec(),
        }
    }
}

/// Position-embedding similarity on `grid` (`None`: the grid the model was trained for).
pub fn position_similarity(vit: &Vit, grid: Option<(usize, usize)>) -> Result<PosSimilarity> {
    let _guard = tch::no_grad_guard();
    let (gh, gw) = grid.unwrap_or(vit.config.pos_grid);
    let pos = vit.position_embeddings_for(gh, gw)?;
    let np = (gh * gw) as i64;
    let e = pos
        .f_squeeze_dim(0)?
        .f_narrow(0, vit.config.pos_prefix as i64, np)?
        .f_to_kind(Kind::Double)?;
    let norm = e
        .f_norm_scalaropt_dim(2.0, [1i64].as_slice(), true)?
        .f_clamp_min(1e-12)?;
    let e = e.f_div(&norm)?;
    let s = e.f_matmul(&e.f_transpose(0, 1)?)?;
    Ok(PosSimilarity {
        grid_h: gh,
        grid_w: gw,
        data: to_vec_f32(&s)?,
    })
}

/// Principal components of the patch-embedding filters.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchFilters {
    pub patch: usize,
    /// `[k, P, P, 3]`, each component min–max scaled to [0, 1].
    pub components: Vec<f32>,
    pub count: usize,
    /// Fraction of the filters' variance each component explains.
    pub explained: Vec<f64>,
}

impl PatchFilters {
    /// Component `i` as an RGB image `P × P`.
    pub fn image(&self, i: usize) -> image::RgbImage {
        let p = self.patch;
        let c = &self.components[i * p * p * 3..(i + 1) * p * p * 3];
        image::RgbImage::from_fn(p as u32, p as u32, |x, y| {
            let at = (y as usize * p + x as usize) * 3;
            image::Rgb([0, 1, 2].map(|k| (c[at + k] * 255.0).round().clamp(0.0, 255.0) as u8))
        })
    }
}

/// The top `k` principal components of the patch-embedding filters (see the module docs).
pub fn patch_filter_components(vit: &Vit, k: usize) -> Result<PatchFilters> {
    let _guard = tch::no_grad_guard();
    let w = vit.patch_embedding_weight().f_to_kind(Kind::Double)?;
    let s = w.size();
    let (d, p) = (s[0], s[2]);
    let x = w.f_reshape([d, 3 * p * p])?;
    let result = pca(&x, k)?;
    let count = result.components.size()[0];
    // [k, 3, P, P] → [k, P, P, 3], each component scaled over its own 3·P² values.
    let scaled = min_max_columns(&result.components.f_transpose(0, 1)?)?
        .f_transpose(0, 1)?
        .f_reshape([count, 3, p, p])?
        .f_permute([0, 2, 3, 1])?;
    Ok(PatchFilters {
        patch: p as usize,
        components: to_vec_f32(&scaled)?,
        count: count as usize,
        explained: result.explained,
    })
}
