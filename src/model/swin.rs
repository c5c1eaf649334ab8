//! Swin Transformer (Liu et al. 2021) in timm's and Hugging Face's namings: configuration from the weights,
//! the canonical tensor list, and the forward pass with every block's window attention captured.
//!
//! ```text
//! x = norm(patch_embed(pixels))                                   [H, W, C0]   (stem grid, patch P)
//! per stage s:  s > 0: x = reduction(norm([x(0,0); x(1,0); x(0,1); x(1,1)]))   (2x2 merge, odd sides padded)
//!   per block b: window M (or the stage's side if it is no larger), shift M/2 on odd blocks (0 if no larger)
//!     y = norm1(x); roll by −shift and pad to whole windows (Hugging Face: pad, then roll)
//!     per window: A = softmax(q·kᵀ/√d + B_rel + mask), B_rel[h, i, j] = table[(Δy+M−1)(2M−1) + Δx+M−1, h],
//!                 mask −100 between tokens the roll brought from different regions
//!     x = x + proj(A v) (windows merged, padding cropped, roll undone);  x = x + mlp(norm2(x))
//! out = norm(x);  pooled = mean over tokens;  logits = head(pooled)
//! ```
//! The attention of a block is kept as `[windows, heads, M², M²]` in the model's own window order (row-major
//! over the padded, rolled grid), with [`WindowMeta`] saying where each row sits on the image.

use std::collections::BTreeMap;

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use super::config::{Family, SwinArch, VitConfig};
use super::error::{ModelError, Result};
use super::naming::{Fit, Source};

mod config;

/// Where one block's window attention sits: its stage, that stage's grid (unpadded and padded to whole
/// windows), the window and the roll. Token `t` of window `k` is padded-grid cell
/// `((k / (padded_w / win_w)) · win_h + t / win_w, (k % (padded_w / win_w)) · win_w + t % win_w)` of the
/// rolled grid; undo the roll (add `shift`, modulo the padded side for timm, the padded side for HF) to find
/// the image cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowMeta {
    pub stage: usize,
    pub grid: (usize, usize),
    pub padded: (usize, usize),
    pub window: (usize, usize),
    pub shift: (usize, usize),
    /// Input pixels per cell of this stage's grid.
    pub cell_px: usize,
    /// Hugging Face pads before rolling (the roll wraps over the padded grid); timm rolls the unpadded grid.
    pub pad_then_roll: bool,
}

impl WindowMeta {
    pub fn windows(&self) -> (usize, usize) {
        (self.padded.0 / self.window.0, self.padded.1 / self.window.1)
    }
    /// The image cell (row, col) of stage-grid coordinates of token `t` in window `k`, `None` for padding.
    pub fn cell_of(&self, k: usize, t: usize) -> Option<(usize, usize)> {
        let (_, nw) = self.windows();
        let (r, c) = (
            (k / nw) * self.window.0 + t / self.window.1,
            (k % nw) * self.window.1 + t % self.window.1,
        );
        let (r, c) = if self.pad_then_roll {
            // padded then rolled: undo the roll over the padded grid, then padding is what lies outside
            (
                (r + self.shift.0) % self.padded.0,
                (c + self.shift.1) % self.padded.1,
            )
        } else {
            // rolled then padded: padding is outside the grid, the rest undoes the roll over the grid
            if r >= self.grid.0 || c >= self.grid.1 {
                return None;
            }
            (
                (r + self.shift.0) % self.grid.0,
                (c + self.shift.1) % self.grid.1,
            )
        };
        (r < self.grid.0 && c < self.grid.1).then_some((r, c))
    }
    /// The rows (axis 0) or columns (axis 1) of this stage's grid at which a window starts, in image order.
    pub fn window_starts(&self, axis: usize) -> Vec<usize> {
        let (n, padded, win, shift) = match axis {
            0 => (self.grid.0, self.padded.0, self.window.0, self.shift.0),
            _ => (self.grid.1, self.padded.1, self.window.1, self.shift.1),
        };
        // Windows start at multiples of the window on the rolled grid; the roll moves them by `shift`
        // (modulo the grid for timm, which rolls before padding; modulo the padded grid for HF).
        let modulus = if self.pad_then_roll { padded } else { n };
        let mut starts: Vec<usize> = (0..padded.div_ceil(win.max(1)))
            .map(|k| (k * win + shift) % modulus.max(1))
            .filter(|&r| r < n)
            .collect();
        starts.sort_unstable();
        starts.dedup();
        starts
    }

    /// The window and the token in it that hold image cell (row, col) of this stage's grid.
    pub fn locate(&self, row: usize, col: usize) -> Option<(usize, usize)> {
        let (_, nw) = self.windows();
        let (sr, sc) = if self.pad_then_roll {
            (
                (row + self.padded.0 - self.shift.0 % self.padded.0) % self.padded.0,
                (col + self.padded.1 - self.shift.1 % self.padded.1) % self.padded.1,
            )
        } else {
            (
                (row + self.grid.0 - self.shift.0 % self.grid.0) % self.grid.0,
                (col + self.grid.1 - self.shift.1 % self.grid.1) % self.grid.1,
            )
        };
        if row >= self.grid.0 || col >= self.grid.1 {
            return None;
        }
        let k = (sr / self.window.0) * nw + sc / self.window.1;
        let t = (sr % self.window.0) * self.window.1 + sc % self.window.1;
        Some((k, t))
    }
}

/// Width of Swin V2's continuous position bias MLP (timm and transformers).
const CPB_HIDDEN: usize = 512;

/// Block `b` of stage `s`, canonical (timm) prefix.
fn block(s: usize, b: usize) -> String {
    format!("layers.{s}.blocks.{b}")
}

/// Every canonical tensor of a Swin configuration with its shape.
pub(super) fn canonical(cfg: &VitConfig, arch: &SwinArch) -> Vec<(String, Vec<usize>)> {
    let mut e: Vec<(String, Vec<usize>)> = Vec::new();
    let mut add = |n: String, s: Vec<usize>| e.push((n, s));
    let (c0, p) = (arch.dims[0], cfg.patch_size);
    add("patch_embed.proj.weight".into(), vec![c0, 3, p, p]);
    add("patch_embed.proj.bias".into(), vec![c0]);
    add("patch_embed.norm.weight".into(), vec![c0]);
    add("patch_embed.norm.bias".into(), vec![c0]);
    let m = arch.window;
    for (s, &depth) in arch.depths.iter().enumerate() {
        let d = arch.dims[s];
        if s > 0 {
            let prev = arch.dims[s - 1];
            // V1 normalises the 4C concatenation, V2 the reduced 2C.
            let normed = if arch.v2.is_some() { d } else { 4 * prev };
            add(format!("layers.{s}.downsample.norm.weight"), vec![normed]);
            add(format!("layers.{s}.downsample.norm.bias"), vec![normed]);
            add(
                format!("layers.{s}.downsample.reduction.weight"),
                vec![d, 4 * prev],
            );
        }
        for b in 0..depth {
            let k = block(s, b);
            let mh = arch.mlp_hidden[s];
            let h = arch.heads[s];
            let position: Vec<(&str, Vec<usize>)> = if arch.v2.is_some() {
                vec![
                    ("attn.logit_scale", vec![h, 1, 1]),
                    ("attn.cpb_mlp.0.weight", vec![CPB_HIDDEN, 2]),
                    ("attn.cpb_mlp.0.bias", vec![CPB_HIDDEN]),
                    ("attn.cpb_mlp.2.weight", vec![h, CPB_HIDDEN]),
                ]
            } else {
                vec![(
                    "attn.relative_position_bias_table",
                    vec![(2 * m - 1) * (2 * m - 1), h],
                )]
            };
            for (name, shape) in position {
                add(format!("{k}.{name}"), shape);
            }
            for (name, shape) in [
                ("norm1.weight", vec![d]),
                ("norm1.bias", vec![d]),
                ("attn.qkv.weight", vec![3 * d, d]),
                ("attn.qkv.bias", vec![3 * d]),
                ("attn.proj.weight", vec![d, d]),
                ("attn.proj.bias", vec![d]),
                ("norm2.weight", vec![d]),
                ("norm2.bias", vec![d]),
                ("mlp.fc1.weight", vec![mh, d]),
                ("mlp.fc1.bias", vec![mh]),
                ("mlp.fc2.weight", vec![d, mh]),
                ("mlp.fc2.bias", vec![d]),
            ] {
                add(format!("{k}.{name}"), shape);
            }
        }
    }
    let last = *arch.dims.last().unwrap_or(&0);
    add("norm.weight".into(), vec![last]);
    add("norm.bias".into(), vec![last]);
    if let Some(c) = cfg.num_classes {
        add("head.weight".into(), vec![c, last]);
        add("head.bias".into(), vec![c]);
    }
    e
}

/// File tensors behind a canonical Swin tensor.
pub(super) fn source(
    family: Family,
    r: &str,
    canonical: &str,
    has: &dyn Fn(&str) -> bool,
) -> Option<Source> {
    let one = |n: String| {
        Some(Source {
            files: vec![n],
            fit: Fit::Same,
        })
    };
    if family == Family::TimmSwin {
        return match canonical {
            "head.weight" => one("head.fc.weight".into()),
            "head.bias" => one("head.fc.bias".into()),
            // Swin V2 keeps the Q and V biases apart (the key has none).
            c if c.ends_with("attn.qkv.bias") && !has(c) => {
                let p = c.trim_end_matches("qkv.bias");
                Some(Source {
                    files: vec![format!("{p}q_bias"), format!("{p}v_bias")],
                    fit: Fit::QkvNoKeyBias,
                })
            }
            c => one(c.into()),
        };
    }
    let e = format!("{r}embeddings.");
    if let Some(rest) = canonical.strip_prefix("layers.") {
        let (s, rest) = rest.split_once('.')?;
        let s: usize = s.parse().ok()?;
        if let Some(param) = rest.strip_prefix("downsample.") {
            // Hugging Face merges at the end of the stage before.
            return one(format!(
                "{r}encoder.layers.{}.downsample.{param}",
                s.checked_sub(1)?
            ));
        }
        let rest = rest.strip_prefix("blocks.")?;
        let (b, part) = rest.split_once('.')?;
        let p = format!("{r}encoder.layers.{s}.blocks.{b}.");
        let (module, param) = part.rsplit_once('.')?;
        let name = match module {
            "norm1" => "layernorm_before",
            "norm2" => "layernorm_after",
            "attn.qkv" if param == "bias" && !has(&format!("{p}attention.self.key.bias")) => {
                return Some(Source {
                    files: vec![
                        format!("{p}attention.self.query.bias"),
                        format!("{p}attention.self.value.bias"),
                    ],
                    fit: Fit::QkvNoKeyBias,
                });
            }
            "attn.qkv" => {
                return Some(Source {
                    files: ["query", "key", "value"]
                        .iter()
                        .map(|n| format!("{p}attention.self.{n}.{param}"))
                        .collect(),
                    fit: Fit::Cat,
                });
            }
            "attn" if param == "relative_position_bias_table" || param == "logit_scale" => {
                return one(format!("{p}attention.self.{param}"));
            }
            "attn.cpb_mlp.0" | "attn.cpb_mlp.2" => {
                let layer = &module[module.len() - 1..];
                return one(format!(
                    "{p}attention.self.continuous_position_bias_mlp.{layer}.{param}"
                ));
            }
            "attn.proj" => "attention.output.dense",
            "mlp.fc1" => "intermediate.dense",
            "mlp.fc2" => "output.dense",
            _ => return None,
        };
        return one(format!("{p}{name}.{param}"));
    }
    match canonical {
        "patch_embed.proj.weight" => one(format!("{e}patch_embeddings.projection.weight")),
        "patch_embed.proj.bias" => one(format!("{e}patch_embeddings.projection.bias")),
        "patch_embed.norm.weight" => one(format!("{e}norm.weight")),
        "patch_embed.norm.bias" => one(format!("{e}norm.bias")),
        "norm.weight" => one(format!("{r}layernorm.weight")),
        "norm.bias" => one(format!("{r}layernorm.bias")),
        "head.weight" => one("classifier.weight".into()),
        "head.bias" => one("classifier.bias".into()),
        _ => None,
    }
}

/// Tensors a Swin checkpoint may carry that inference recomputes or does not use.
pub(super) fn ignorable(rel: &str) -> Option<&'static str> {
    if rel.ends_with("relative_position_index") {
        Some("relative position index buffer (recomputed)")
    } else if rel.ends_with("attn_mask") {
        Some("shifted-window mask buffer (recomputed for each input)")
    } else if rel == "embeddings.mask_token" {
        Some("mask token (pre-training only)")
    } else {
        None
    }
}

/// Validated Swin weights on the model's device.
pub(super) struct SwinWeights {
    tensors: BTreeMap<String, Tensor>,
}

impl SwinWeights {
    pub(super) fn new(tensors: BTreeMap<String, Tensor>) -> SwinWeights {
        SwinWeights { tensors }
    }
    fn get(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .get(name)
            .ok_or_else(|| ModelError::Invalid(format!("missing Swin tensor {name}")))
    }
    fn linear(&self, p: &str, x: &Tensor) -> Result<Tensor> {
        let bias = self.tensors.get(&format!("{p}.bias"));
        Ok(x.f_linear(self.get(&format!("{p}.weight"))?, bias)?)
    }
    fn norm(&self, p: &str, x: &Tensor, eps: f64) -> Result<Tensor> {
        let w = self.get(&format!("{p}.weight"))?;
        Ok(x.f_layer_norm(
            [w.size()[0]],
            Some(w),
            Some(self.get(&format!("{p}.bias"))?),
            eps,
            false,
        )?)
    }
}

/// One Swin forward pass: the final tokens `[N, D]`, every block's window attention (f32) with its placement,
/// and the tokens of every block `[H·W, C]` (the stage's grid).
pub(super) struct SwinRun {
    pub tokens: Tensor,
    pub attentions: Vec<Tensor>,
    pub windows: Vec<WindowMeta>,
    pub hidden: Vec<Tensor>,
}

/// The relative-position indices and shifted-window masks of one forward pass, each built once per window
/// shape and shared by the blocks that use it (a stage's blocks repeat the same two).
#[derive(Default)]
struct Geometry {
    index: BTreeMap<((usize, usize), (usize, usize)), Tensor>,
    mask: BTreeMap<((usize, usize), (usize, usize), (usize, usize)), Option<Tensor>>,
}

impl Geometry {
    fn index(
        &mut self,
        table: (usize, usize),
        meta: &WindowMeta,
        device: Device,
    ) -> Result<Tensor> {
        let key = (table, meta.window);
        if !self.index.contains_key(&key) {
            let t = rel_index(table, meta.window.0, meta.window.1, device)?;
            self.index.insert(key, t);
        }
        Ok(self.index[&key].shallow_clone())
    }
    fn mask(&mut self, meta: &WindowMeta, device: Device, kind: Kind) -> Result<Option<Tensor>> {
        let key = (meta.padded, meta.window, meta.shift);
        if !self.mask.contains_key(&key) {
            let m = shift_mask(meta, device, kind)?;
            self.mask.insert(key, m);
        }
        Ok(self.mask[&key].as_ref().map(Tensor::shallow_clone))
    }
}

/// The shifted-window mask `[windows, M², M²]` (0 within a region, −100 across) on a padded grid.
fn shift_mask(meta: &WindowMeta, device: Device, kind: Kind) -> Result<Option<Tensor>> {
    if meta.shift == (0, 0) {
        return Ok(None);
    }
    let (hp, wp) = meta.padded;
    let (wh, ww) = meta.window;
    let (sh, sw) = meta.shift;
    // Region labels of the padded grid: slices [0, −M), [−M, −s), [−s, end) per axis (both families).
    let region = |i: usize, n: usize, m: usize, s: usize| -> usize {
        if i < n - m {
            0
        } else if i < n - s {
            1
        } else {
            2
        }
    };
    let (nh, nw) = (hp / wh, wp / ww);
    let area = wh * ww;
    let mut labels = vec![0usize; nh * nw * area];
    for r in 0..hp {
        for c in 0..wp {
            let k = (r / wh) * nw + c / ww;
            let t = (r % wh) * ww + c % ww;
            labels[k * area + t] = region(r, hp, wh, sh) * 3 + region(c, wp, ww, sw);
        }
    }
    let mut mask = vec![0f32; nh * nw * area * area];
    for k in 0..nh * nw {
        for i in 0..area {
            for j in 0..area {
                if labels[k * area + i] != labels[k * area + j] {
                    mask[(k * area + i) * area + j] = -100.0;
                }
            }
        }
    }
    Ok(Some(
        Tensor::f_from_slice(&mask)?
            .f_reshape([(nh * nw) as i64, area as i64, area as i64])?
            .f_to_device(device)?
            .f_to_kind(kind)?,
    ))
}

/// Index of every (query, key) pair of a `wh × ww` window into a table of `(2·th−1)(2·tw−1)` offsets (row-major,
/// offset (0, 0) at its centre): Swin V1's table is for the trained `M × M` window (a smaller window uses the
/// offsets it has), Swin V2's is built for the window itself.
fn rel_index(table: (usize, usize), wh: usize, ww: usize, device: Device) -> Result<Tensor> {
    let (th, tw) = (table.0 as i64, table.1 as i64);
    let area = wh * ww;
    let mut idx = Vec::with_capacity(area * area);
    for i in 0..area {
        for j in 0..area {
            let dy = (i / ww) as i64 - (j / ww) as i64 + th - 1;
            let dx = (i % ww) as i64 - (j % ww) as i64 + tw - 1;
            idx.push(dy * (2 * tw - 1) + dx);
        }
    }
    Ok(Tensor::f_from_slice(&idx)?.f_to_device(device)?)
}

/// Swin V2's log-spaced offsets `[(2h−1)(2w−1), 2]` of a `h × w` window: each offset divided by the
/// pre-training window minus one (the window itself when 0), times 8, then `sign(v)·log2(|v| + 1) / 3`.
fn cpb_coords(
    window: (usize, usize),
    pretrained: usize,
    device: Device,
    kind: Kind,
) -> Result<Tensor> {
    let (wh, ww) = window;
    let denom = |w: usize| {
        (if pretrained > 0 { pretrained } else { w })
            .saturating_sub(1)
            .max(1) as f32
    };
    let spaced = |v: f32| v.signum() * (v.abs() + 1.0).log2() / 8f32.log2();
    let mut c = Vec::with_capacity((2 * wh - 1) * (2 * ww - 1) * 2);
    for a in -(wh as i64 - 1)..wh as i64 {
        for b in -(ww as i64 - 1)..ww as i64 {
            c.push(spaced(a as f32 / denom(wh) * 8.0));
            c.push(spaced(b as f32 / denom(ww) * 8.0));
        }
    }
    Ok(Tensor::f_from_slice(&c)?
        .f_reshape([-1, 2])?
        .f_to_device(device)?
        .f_to_kind(kind)?)
}

/// Every block's relative position bias over the offsets of an `m × m` window: `[heads, 2m−1, 2m−1]` f32.
pub(super) fn bias_tables(w: &SwinWeights, arch: &SwinArch, m: usize) -> Result<Vec<Tensor>> {
    let side = 2 * m as i64 - 1;
    let mut out = Vec::new();
    for (s, &depth) in arch.depths.iter().enumerate() {
        for b in 0..depth {
            let p = block(s, b);
            let table = match &arch.v2 {
                None => w
                    .get(&format!("{p}.attn.relative_position_bias_table"))?
                    .shallow_clone(),
                Some(pretrained) => {
                    let kind = w.get(&format!("{p}.attn.cpb_mlp.2.weight"))?.kind();
                    let device = w.get(&format!("{p}.attn.cpb_mlp.2.weight"))?.device();
                    let coords = cpb_coords((m, m), pretrained[s], device, kind)?;
                    let hidden = w
                        .linear(&format!("{p}.attn.cpb_mlp.0"), &coords)?
                        .f_relu()?;
                    hidden
                        .f_linear::<&Tensor>(w.get(&format!("{p}.attn.cpb_mlp.2.weight"))?, None)?
                        .f_sigmoid()?
                        .f_mul_scalar(16.0)?
                }
            };
            out.push(
                table
                    .f_to_kind(Kind::Float)?
                    .f_transpose(0, 1)?
                    .f_reshape([-1, side, side])?,
            );
        }
    }
    Ok(out)
}

/// The forward pass of `arch` on `pixels` `[1, 3, H, W]` already on the device, in the model's precision.
pub(super) fn forward(
    w: &SwinWeights,
    arch: &SwinArch,
    eps: f64,
    pixels: &Tensor,
    patch: i64,
) -> Result<SwinRun> {
    let x = pixels.f_conv2d(
        w.get("patch_embed.proj.weight")?,
        Some(w.get("patch_embed.proj.bias")?),
        [patch, patch],
        [0, 0],
        [1, 1],
        1,
    )?; // [1, C, h, w]
    let mut x = w.norm("patch_embed.norm", &x.f_permute([0, 2, 3, 1])?, eps)?; // [1, h, w, C]
    let (mut attentions, mut windows, mut hidden) = (vec![], vec![], vec![]);
    let mut geometry = Geometry::default();
    let mut cell_px = patch as usize;
    for (s, &depth) in arch.depths.iter().enumerate() {
        if s > 0 {
            x = merge(w, s, &x, eps, arch.v2.is_some())?;
            cell_px *= 2;
        }
        let (h, wd) = (x.size()[1] as usize, x.size()[2] as usize);
        for b in 0..depth {
            let p = block(s, b);
            let ((wh, ww), shift) = arch.window_and_shift(b, h, wd);
            let m = arch.window;
            // Swin V1's table holds the offsets of an M×M window; timm and transformers resize it (each their
            // own way) for a smaller window, which vitscope does not guess at. V2's bias is continuous.
            if wh > m || ww > m || (arch.v2.is_none() && (wh < m || ww < m)) {
                return Err(ModelError::Invalid(format!(
                    "stage {s}'s grid is {h}x{wd} cells, smaller than the {m}x{m} window its relative position \
                     table was trained for (the family's code would resize the table); use an input of at least \
                     {px} px on each side",
                    px = m * cell_px
                )));
            }
            let meta = WindowMeta {
                stage: s,
                grid: (h, wd),
                padded: (h.div_ceil(wh) * wh, wd.div_ceil(ww) * ww),
                window: (wh, ww),
                shift,
                cell_px,
                pad_then_roll: arch.pad_then_roll,
            };
            let (y, attn) = window_block(w, &p, &x, &meta, arch, eps, &mut geometry)?;
            // Swin's MLP is GELU (build_swin_config refuses any other activation).
            let mlp = |t: &Tensor| -> Result<Tensor> {
                let hdn = w.linear(&format!("{p}.mlp.fc1"), t)?.f_gelu("none")?;
                w.linear(&format!("{p}.mlp.fc2"), &hdn)
            };
            if arch.v2.is_some() {
                // post-norm: x + norm1(attn(x)), then x + norm2(mlp(x))
                x = x.f_add(&w.norm(&format!("{p}.norm1"), &y, eps)?)?;
                x = x.f_add(&w.norm(&format!("{p}.norm2"), &mlp(&x)?, eps)?)?;
            } else {
                x = x.f_add(&y)?;
                x = x.f_add(&mlp(&w.norm(&format!("{p}.norm2"), &x, eps)?)?)?;
            }
            hidden.push(x.f_reshape([(h * wd) as i64, -1])?);
            attentions.push(attn);
            windows.push(meta);
        }
    }
    let c = x.size()[3];
    let tokens = w.norm("norm", &x.f_reshape([-1, c])?, eps)?;
    Ok(SwinRun {
        tokens,
        attentions,
        windows,
        hidden,
    })
}

/// 2×2 patch merging at the start of stage `s`: `[1, h, w, C]` → `[1, ⌈h/2⌉, ⌈w/2⌉, 2C]`.
fn merge(w: &SwinWeights, s: usize, x: &Tensor, eps: f64, v2: bool) -> Result<Tensor> {
    let (h, wd, c) = (x.size()[1], x.size()[2], x.size()[3]);
    let x = x.f_pad([0, 0, 0, wd % 2, 0, h % 2], "constant", Some(0.0))?;
    let (h, wd) = (x.size()[1], x.size()[2]);
    let x = x
        .f_reshape([1, h / 2, 2, wd / 2, 2, c])?
        .f_permute([0, 1, 3, 4, 2, 5])?
        .f_flatten(3, -1)?; // [x(0,0), x(1,0), x(0,1), x(1,1)] per merged cell
    let p = format!("layers.{s}.downsample");
    if v2 {
        let x = w.linear(&format!("{p}.reduction"), &x)?;
        return w.norm(&format!("{p}.norm"), &x, eps);
    }
    let x = w.norm(&format!("{p}.norm"), &x, eps)?;
    w.linear(&format!("{p}.reduction"), &x)
}

/// One block's windowed attention branch on `x` `[1, h, w, C]`: the update `[1, h, w, C]` and the attention
/// `[windows, heads, area, area]` (f32).
fn window_block(
    w: &SwinWeights,
    p: &str,
    x: &Tensor,
    meta: &WindowMeta,
    arch: &SwinArch,
    eps: f64,
    geometry: &mut Geometry,
) -> Result<(Tensor, Tensor)> {
    let (h, wd) = (meta.grid.0 as i64, meta.grid.1 as i64);
    let (hp, wp) = (meta.padded.0 as i64, meta.padded.1 as i64);
    let (wh, ww) = (meta.window.0 as i64, meta.window.1 as i64);
    let (sh, sw) = (meta.shift.0 as i64, meta.shift.1 as i64);
    let c = x.size()[3];
    // V1 normalises before attending; V2 after (post-norm, in `forward`).
    let y = if arch.v2.is_some() {
        x.shallow_clone()
    } else {
        w.norm(&format!("{p}.norm1"), x, eps)?
    };
    let pad = |t: &Tensor| t.f_pad([0, 0, 0, wp - wd, 0, hp - h], "constant", Some(0.0));
    let roll = |t: &Tensor, a: i64, b: i64| -> Result<Tensor> {
        Ok(if (a, b) == (0, 0) {
            t.shallow_clone()
        } else {
            t.f_roll([a, b], [1, 2])?
        })
    };
    let y = if meta.pad_then_roll {
        roll(&pad(&y)?, -sh, -sw)?
    } else {
        pad(&roll(&y, -sh, -sw)?)?
    };
    let (nh, nw) = (hp / wh, wp / ww);
    let area = wh * ww;
    let windows = y
        .f_reshape([nh, wh, nw, ww, c])?
        .f_permute([0, 2, 1, 3, 4])?
        .f_reshape([nh * nw, area, c])?;
    let s = meta.stage;
    let heads = arch.heads[s] as i64;
    let hd = c / heads;
    let qkv = w
        .linear(&format!("{p}.attn.qkv"), &windows)?
        .f_reshape([nh * nw, area, 3, heads, hd])?
        .f_permute([2, 0, 3, 1, 4])?; // [3, nW, heads, area, hd]
    let (q, k, v) = (qkv.f_get(0)?, qkv.f_get(1)?, qkv.f_get(2)?);
    let (scores, bias) = match &arch.v2 {
        None => {
            let q = q.f_mul_scalar(1.0 / (hd as f64).sqrt())?;
            let table = w.get(&format!("{p}.attn.relative_position_bias_table"))?;
            let idx = geometry.index((arch.window, arch.window), meta, x.device())?;
            let bias = table.f_index_select(0, &idx)?;
            (q.f_matmul(&k.f_transpose(-1, -2)?)?, bias)
        }
        Some(pretrained) => {
            // cosine attention, scaled per head by exp(min(logit_scale, ln 100))
            let unit = |t: &Tensor| -> Result<Tensor> {
                let norm = t
                    .f_norm_scalaropt_dim(2.0, [-1i64].as_slice(), true)?
                    .f_clamp_min(1e-12)?;
                Ok(t.f_div(&norm)?)
            };
            let scale = w
                .get(&format!("{p}.attn.logit_scale"))?
                .f_clamp_max((100f64).ln())?
                .f_exp()?;
            let cos = unit(&q)?.f_matmul(&unit(&k)?.f_transpose(-1, -2)?)?;
            let coords = cpb_coords(meta.window, pretrained[s], x.device(), q.kind())?;
            let hidden = w
                .linear(&format!("{p}.attn.cpb_mlp.0"), &coords)?
                .f_relu()?;
            let table = hidden
                .f_linear::<&Tensor>(w.get(&format!("{p}.attn.cpb_mlp.2.weight"))?, None)?
                .f_sigmoid()?
                .f_mul_scalar(16.0)?; // [offsets, heads]
            let idx = geometry.index(meta.window, meta, x.device())?;
            (cos.f_mul(&scale)?, table.f_index_select(0, &idx)?)
        }
    };
    let bias = bias.f_reshape([area, area, heads])?.f_permute([2, 0, 1])?; // [heads, area, area]
    let mut scores = scores.f_add(&bias)?;
    if let Some(mask) = geometry.mask(meta, x.device(), scores.kind())? {
        scores = scores.f_add(&mask.f_unsqueeze(1)?)?;
    }
    let attn = scores.f_softmax(-1, Kind::Float)?;
    let out = attn
        .f_to_kind(v.kind())?
        .f_matmul(&v)?
        .f_transpose(1, 2)?
        .f_reshape([nh * nw, area, c])?;
    let out = w.linear(&format!("{p}.attn.proj"), &out)?;
    let out = out
        .f_reshape([nh, nw, wh, ww, c])?
        .f_permute([0, 2, 1, 3, 4])?
        .f_reshape([1, hp, wp, c])?;
    let crop = |t: &Tensor| -> Result<Tensor> { Ok(t.f_narrow(1, 0, h)?.f_narrow(2, 0, wd)?) };
    let out = if meta.pad_then_roll {
        crop(&roll(&out, sh, sw)?)?
    } else {
        roll(&crop(&out)?, sh, sw)?
    };
    Ok((out, attn))
}
