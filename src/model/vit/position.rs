//! How a [`Vit`] knows where a token is: the learned absolute embedding resized to the input grid, RoPE's
//! rotation tables and their application to queries and keys, and BEiT's and Swin's relative position bias.
use tch::{Kind, Tensor};

use super::Vit;
use crate::model::config::Rope;
use crate::model::error::{ModelError, Result};
use crate::model::store::TableBias;

impl Vit {
    /// The learned relative position bias of every block over the 2-D offsets of its trained window, `[heads,
    /// 2h−1, 2w−1]` f32 (centre = offset (0, 0)): Swin V1's and BEiT's tables (BEiT's three CLS entries left
    /// out), Swin V2's `16·sigmoid(cpb_mlp(offsets))`. `None` for models without one.
    pub fn relative_bias_tables(&self) -> Result<Option<Vec<Tensor>>> {
        let _guard = tch::no_grad_guard();
        if let (Some(sw), Some(arch)) = (&self.swin, &self.config.swin) {
            let m = arch.window;
            return Ok(Some(crate::model::swin::bias_tables(sw, arch, m)?));
        }
        let Some(r) = &self.config.rel_pos else {
            return Ok(None);
        };
        let (h, w) = (2 * r.window.0 as i64 - 1, 2 * r.window.1 as i64 - 1);
        let shape = |t: &Tensor| -> Result<Tensor> {
            Ok(t.f_narrow(0, 0, h * w)?
                .f_to_kind(Kind::Float)?
                .f_transpose(0, 1)?
                .f_reshape([-1, h, w])?)
        };
        let tables = match &self.shared_rel_table {
            Some(t) => {
                let one = shape(t)?;
                (0..self.blocks.len())
                    .map(|_| one.shallow_clone())
                    .collect()
            }
            None => self
                .blocks
                .iter()
                .filter_map(|b| b.rel_table.as_ref())
                .map(shape)
                .collect::<Result<Vec<_>>>()?,
        };
        Ok(Some(tables))
    }

    /// Position embeddings for a `grid_h × grid_w` input grid: `[1, pos_prefix + grid_h·grid_w, D]`.
    pub fn position_embeddings_for(&self, grid_h: usize, grid_w: usize) -> Result<Tensor> {
        let Some(pos_embed) = &self.pos_embed else {
            return Err(ModelError::Invalid(format!(
                "this model has no learned position embedding to compare; its positions are: {}",
                self.config.position_scheme()
            )));
        };
        let (ph, pw) = self.config.pos_grid;
        if (ph, pw) == (grid_h, grid_w) {
            return Ok(pos_embed.shallow_clone());
        }
        let d = self.config.hidden_size as i64;
        let k = self.config.pos_prefix as i64;
        let kind = pos_embed.kind();
        let grid = pos_embed
            .f_narrow(1, k, (ph * pw) as i64)?
            .f_to_kind(Kind::Float)?
            .f_reshape([1, ph as i64, pw as i64, d])?
            .f_permute([0, 3, 1, 2])?;
        let size = [grid_h as i64, grid_w as i64];
        let resized = if self.config.pos_antialias {
            grid.f_internal_upsample_bicubic2d_aa(size, false, None, None)?
        } else {
            grid.f_upsample_bicubic2d(size, false, None, None)?
        };
        let patch = resized
            .f_permute([0, 2, 3, 1])?
            .f_reshape([1, (grid_h * grid_w) as i64, d])?
            .f_to_kind(kind)?;
        Ok(Tensor::f_cat(&[pos_embed.f_narrow(1, 0, k)?, patch], 1)?)
    }

    /// RoPE `(cos, sin)` `[grid_h·grid_w, head_dim]` for the patch tokens, in the model's precision (computed in
    /// f32 the way upstream does).
    pub(super) fn rope_tables(
        &self,
        grid_h: usize,
        grid_w: usize,
    ) -> Result<Option<(Tensor, Tensor)>> {
        let Some(rope) = &self.config.rope else {
            return Ok(None);
        };
        let opts = (Kind::Float, self.device);
        let (gh, gw) = (grid_h as i64, grid_w as i64);
        // Per-axis coordinates, then the [rows, cols] grid: coords [N, 2].
        let axis = |n: i64| -> Result<Tensor> {
            Ok(match rope {
                Rope::Dinov3 { .. } => {
                    Tensor::f_arange_start_step(0.5, n as f64, 1.0, opts)?.f_div_scalar(n as f64)?
                }
                Rope::Eva { .. } => Tensor::f_arange(n, opts)?,
            })
        };
        let (mut ys, mut xs) = (axis(gh)?, axis(gw)?);
        if let Rope::Eva { reference, .. } = rope {
            ys = ys
                .f_div_scalar(gh as f64)?
                .f_mul_scalar(reference.0 as f64)?;
            xs = xs
                .f_div_scalar(gw as f64)?
                .f_mul_scalar(reference.1 as f64)?;
        }
        let ys = ys.f_unsqueeze(1)?.f_expand([gh, gw], false)?;
        let xs = xs.f_unsqueeze(0)?.f_expand([gh, gw], false)?;
        let mut coords = Tensor::f_stack(&[ys, xs], -1)?.f_reshape([gh * gw, 2, 1])?;
        let angles = match rope {
            Rope::Dinov3 { periods } => {
                coords = coords.f_mul_scalar(2.0)?.f_sub_scalar(1.0)?;
                let periods = Tensor::f_from_slice(periods)?.f_to_device(self.device)?;
                coords
                    .f_mul_scalar(2.0 * std::f64::consts::PI)?
                    .f_div(&periods.f_view([1, 1, -1])?)?
            }
            Rope::Eva { bands, .. } => {
                let bands = Tensor::f_from_slice(bands)?.f_to_device(self.device)?;
                coords.f_mul(&bands.f_view([1, 1, -1])?)?
            }
        }
        .f_flatten(1, 2)?; // [N, head_dim / 2]: the row frequencies, then the column ones
        let layout = |t: Tensor| -> Result<Tensor> {
            Ok(match rope {
                Rope::Dinov3 { .. } => Tensor::f_cat(&[&t, &t], -1)?,
                Rope::Eva { .. } => t.f_repeat_interleave_self_int(2, -1, None)?,
            }
            .f_to_kind(self.precision.kind())?)
        };
        Ok(Some((layout(angles.f_cos()?)?, layout(angles.f_sin()?)?)))
    }

    /// BEiT's relative position bias for a `grid_h × grid_w` input: each block's (or the shared) table, resized
    /// bilinearly over the 2-D offsets when the grid is not the one it was trained for (as transformers'
    /// `BeitRelativePositionBias` does; its three CLS entries are kept), and the `[N, N]` index into it.
    pub(super) fn rel_pos_index(&self, grid_h: usize, grid_w: usize) -> Result<Option<Tensor>> {
        if self.config.rel_pos.is_none() {
            return Ok(None);
        }
        let (gh, gw) = (grid_h as i64, grid_w as i64);
        let offsets = (2 * gh - 1) * (2 * gw - 1);
        let n = 1 + gh * gw;
        let mut index = Vec::with_capacity((n * n) as usize);
        for i in 0..n {
            for j in 0..n {
                index.push(match (i, j) {
                    (0, 0) => offsets + 2,
                    (0, _) => offsets,
                    (_, 0) => offsets + 1,
                    _ => {
                        let (yi, xi) = ((i - 1) / gw, (i - 1) % gw);
                        let (yj, xj) = ((j - 1) / gw, (j - 1) % gw);
                        (yi - yj + gh - 1) * (2 * gw - 1) + (xi - xj + gw - 1)
                    }
                });
            }
        }
        Ok(Some(
            Tensor::f_from_slice(&index)?
                .f_reshape([n, n])?
                .f_to_device(self.device)?,
        ))
    }

    pub(super) fn rel_pos_bias(
        &self,
        table: &Tensor,
        index: &Tensor,
        grid_h: usize,
        grid_w: usize,
    ) -> Result<TableBias> {
        let window = self
            .config
            .rel_pos
            .as_ref()
            .map_or((grid_h, grid_w), |r| r.window);
        let table = if window == (grid_h, grid_w) {
            table.shallow_clone()
        } else {
            let (rows, heads) = (table.size()[0], table.size()[1]);
            let (wh, ww) = (window.0 as i64, window.1 as i64);
            let size = [2 * grid_h as i64 - 1, 2 * grid_w as i64 - 1];
            let resized = table
                .f_narrow(0, 0, rows - 3)?
                .f_to_kind(Kind::Float)?
                .f_reshape([1, 2 * wh - 1, 2 * ww - 1, heads])?
                .f_permute([0, 3, 1, 2])?
                .f_upsample_bilinear2d(size, false, None, None)?
                .f_permute([0, 2, 3, 1])?
                .f_reshape([-1, heads])?
                .f_to_kind(table.kind())?;
            Tensor::f_cat(&[resized, table.f_narrow(0, rows - 3, 3)?], 0)?
        };
        Ok(TableBias {
            table,
            index: index.shallow_clone(),
        })
    }

    /// Rotate the patch tokens of `x` `[1, heads, N, head_dim]` (prefix tokens untouched).
    pub(super) fn apply_rope(
        &self,
        x: &Tensor,
        n_prefix: i64,
        cos: &Tensor,
        sin: &Tensor,
    ) -> Result<Tensor> {
        let n = x.size()[2];
        let hd = x.size()[3];
        let patches = x.f_narrow(2, n_prefix, n - n_prefix)?;
        let rotated = match self.config.rope {
            Some(Rope::Eva { .. }) => {
                // [x0, x1, x2, x3, …] → [−x1, x0, −x3, x2, …]
                let even = patches.f_slice(-1, 0, hd, 2)?;
                let odd = patches.f_slice(-1, 1, hd, 2)?;
                Tensor::f_stack(&[odd.f_neg()?, even], -1)?.f_reshape(patches.size())?
            }
            _ => {
                // [x_a, x_b] → [−x_b, x_a]
                let a = patches.f_narrow(-1, 0, hd / 2)?;
                let b = patches.f_narrow(-1, hd / 2, hd / 2)?;
                Tensor::f_cat(&[b.f_neg()?, a], -1)?
            }
        };
        let patches = patches.f_mul(cos)?.f_add(&rotated.f_mul(sin)?)?;
        Ok(Tensor::f_cat(&[x.f_narrow(2, 0, n_prefix)?, patches], 2)?)
    }
}
