//! Files for every analysis method, as PNG (for people) or NPY (for code): what `vitscope export --method`
//! writes. Every PNG carries its provenance and the exact definition used in `vitscope.*` text chunks.
//!
//! File names: `{stem}_{query}_{method}.{png|npy}` for query maps, `{stem}_{query}_L{layer}_dino-mask`,
//! `{stem}_token-norm` (+ `{stem}_prefix-mass.csv`), `{stem}_L{layer}_feature-pca`, `{stem}_pos-sim_{gh}x{gw}`,
//! `{stem}_patch-pca`.
use std::path::PathBuf;

use image::RgbImage;

use super::ExportError;
use super::maps::{LayerSpec, Style, render};
use super::npy::{NpyData, write_npy};
use super::png_file::write_png;
use crate::analysis::{
    FeaturePcaImage, HeadMasks, HeadSel, PatchFilters, PosSimilarity, QueryRows, TokenMap,
    TokenNorms,
};
use crate::model::preprocess::resize;
use crate::render::{
    Colormap, Upsample, category, colorize, normalize_min_max, outline, rgb_grid, tile, upsample,
};

pub use super::vocabulary::{Format, Method};
pub use crate::render::figures::{patch_pca_image, pos_sim_image};

type Result<T> = std::result::Result<T, ExportError>;

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct Output {
    pub out_dir: PathBuf,
    pub stem: String,
    pub format: Format,
    pub colormap: Colormap,
    pub style: Style,
    pub overwrite: bool,
    pub model_name: String,
    pub image_name: String,
    /// The intervention the run was made under (`Intervention::describe`), if any.
    pub intervention: Option<String>,
    /// Query maps' PNGs get a colour bar with the map's range and what it measures.
    pub colour_bar: bool,
}

impl Output {
    fn path(&self, what: &str) -> PathBuf {
        let ext = match self.format {
            Format::Png => "png",
            Format::Npy => "npy",
        };
        self.out_dir.join(format!("{}_{what}.{ext}", self.stem))
    }

    fn text(&self, method: Method, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut t = vec![
            ("vitscope.model".to_string(), self.model_name.clone()),
            ("vitscope.method".to_string(), method.name().to_string()),
        ];
        if !self.image_name.is_empty() {
            t.push(("vitscope.image".into(), self.image_name.clone()));
        }
        if let Some(i) = &self.intervention {
            t.push(("vitscope.intervention".into(), i.clone()));
        }
        t.extend(
            extra
                .iter()
                .map(|(k, v)| (format!("vitscope.{k}"), v.clone())),
        );
        t
    }

    /// Write `img` (PNG) or `shape`/`data` (NPY), whichever the format asks for.
    fn write(
        &self,
        what: &str,
        method: Method,
        extra: &[(&str, String)],
        img: impl FnOnce() -> RgbImage,
        shape: &[usize],
        data: NpyData,
    ) -> Result<PathBuf> {
        let path = self.path(what);
        match self.format {
            Format::Png => write_png(&path, &img(), &self.text(method, extra), self.overwrite)?,
            Format::Npy => write_npy(&path, shape, data, self.overwrite)?,
        }
        Ok(path)
    }
}

/// A query map (rollout, flow, gradient rollout, relevance): PNG in the requested style, NPY `[gh, gw]`.
#[allow(clippy::too_many_arguments)]
pub fn token_map(
    out: &Output,
    method: Method,
    map: &TokenMap,
    query: &str,
    definition: &str,
    photo: &RgbImage,
    input_hw: (usize, usize),
) -> Result<PathBuf> {
    let grid = map.patch_grid();
    let prefix = map
        .prefix()
        .iter()
        .map(|(l, v)| format!("{l} {v:.6}"))
        .collect::<Vec<_>>()
        .join(", ");
    let extra = [
        ("query", query.to_string()),
        ("definition", definition.to_string()),
        ("prefix_values", prefix),
        ("input_size", format!("{}x{}", input_hw.0, input_hw.1)),
        ("normalization", "min-max over patch tokens".into()),
    ];
    out.write(
        &format!("{}_{}", file_safe(query), method.name()),
        method,
        &extra,
        || {
            let small = resize(photo, input_hw.0, input_hw.1);
            let img = render(&grid, photo, &small, out.style, out.colormap, false);
            if out.colour_bar {
                let (lo, hi) = grid.min_max();
                let what = format!(
                    "{}, min to max of this map",
                    super::maps::method_units(method.name())
                );
                super::maps::with_colour_bar(&img, out.colormap, lo, hi, &what)
            } else {
                img
            }
        },
        &[grid.h, grid.w],
        NpyData::F32(&grid.data),
    )
}

/// A file-name-safe form of a query label (`CLS` → `cls`, `patch (3, 5)` → `p3-5`, `MAP h2` → `map_h2`):
/// letters, digits and `-` kept, words joined by `_`.
pub fn file_safe(label: &str) -> String {
    let digits: Vec<&str> = label
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    if label.starts_with("patch") && digits.len() == 2 {
        format!("p{}-{}", digits[0], digits[1])
    } else {
        label
            .split_whitespace()
            .map(|w| {
                w.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect::<String>()
                    .to_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("_")
    }
}

/// Attention as NPY: `[gh, gw]` for one layer and one head (or the head mean), with a leading layer axis
/// for `--layer all` and a head axis for `--head all`: `[L, H, gh, gw]` at most.
pub fn attention_npy(
    out: &Output,
    rows: &QueryRows,
    layers: LayerSpec,
    all_heads: Option<()>,
    head: HeadSel,
    query: &str,
) -> Result<PathBuf> {
    let ls: Vec<usize> = match layers {
        LayerSpec::One(l) if l < rows.layers => vec![l],
        LayerSpec::One(l) => {
            return Err(ExportError::Nothing(format!(
                "layer {l} does not exist (the model has {} layers)",
                rows.layers
            )));
        }
        LayerSpec::All => (0..rows.layers).collect(),
    };
    let hs: Vec<HeadSel> = match all_heads {
        Some(()) => (0..rows.heads).map(HeadSel::Head).collect(),
        None => {
            if let HeadSel::Head(h) = head
                && h >= rows.heads
            {
                return Err(ExportError::Nothing(format!(
                    "head {h} does not exist (the model has {} heads)",
                    rows.heads
                )));
            }
            vec![head]
        }
    };
    let mut data = Vec::new();
    for &l in &ls {
        for &h in &hs {
            data.extend(rows.patch_map(l, h).data);
        }
    }
    let mut shape = Vec::new();
    if layers == LayerSpec::All {
        shape.push(ls.len());
    }
    if all_heads.is_some() {
        shape.push(hs.len());
    }
    shape.extend([rows.layout.grid_h, rows.layout.grid_w]);
    let what = match (layers, all_heads) {
        (LayerSpec::One(l), None) => format!("L{l:02}_{}", head.label()),
        (LayerSpec::One(l), Some(())) => format!("L{l:02}_heads"),
        (LayerSpec::All, None) => format!("layers_{}", head.label()),
        (LayerSpec::All, Some(())) => "layers_heads".into(),
    };
    let path = out.path(&format!("{}_{what}_attention", file_safe(query)));
    write_npy(&path, &shape, NpyData::F32(&data), out.overwrite)?;
    Ok(path)
}

/// DINO head masks: PNG = the photo with each head's mask outlined in its own colour; NPY `[H, gh, gw]` u8.
pub fn dino_masks(
    out: &Output,
    masks: &HeadMasks,
    layer: usize,
    query: &str,
    tau: f64,
    photo: &RgbImage,
) -> Result<PathBuf> {
    let heads = masks.masks.len();
    let data: Vec<u8> = masks.masks.iter().flatten().map(|m| *m as u8).collect();
    let mass = masks
        .mass
        .iter()
        .enumerate()
        .map(|(h, m)| format!("h{h} {m:.3}"))
        .collect::<Vec<_>>()
        .join(", ");
    let extra = [
        ("layer", layer.to_string()),
        ("query", query.to_string()),
        (
            "definition",
            format!(
                "per head, the smallest set of patches holding tau = {tau} of the query's attention over patches (prefix keys dropped, renormalised)"
            ),
        ),
        ("mass_kept", mass),
        (
            "colors",
            (0..heads)
                .map(|h| {
                    let c = category(h);
                    format!("h{h} #{:02x}{:02x}{:02x}", c[0], c[1], c[2])
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    out.write(
        &format!("{}_L{layer:02}_dino-mask", file_safe(query)),
        Method::DinoMask,
        &extra,
        || {
            let mut img = photo.clone();
            let thickness = (img.width().max(img.height()) / 160).max(2);
            for h in 0..heads {
                outline(&mut img, &masks.grid(h), category(h), thickness);
            }
            img
        },
        &[heads, masks.grid_h, masks.grid_w],
        NpyData::U8(&data),
    )
}

/// Token norms: PNG = one tile per layer (patch norms, min–max per layer, outliers outlined in red);
/// NPY `[L, N]` (all tokens, prefix first). Also writes `{stem}_prefix-mass.csv` when the model has prefix
/// tokens (`layer,token,mass`).
pub fn token_norms(
    out: &Output,
    norms: &TokenNorms,
    prefix_mass: &[Vec<f32>],
    input_hw: (usize, usize),
) -> Result<Vec<PathBuf>> {
    let outliers = norms
        .outliers
        .iter()
        .map(|(l, t)| format!("L{l}:{}", norms.layout.token_label(*t)))
        .collect::<Vec<_>>()
        .join(", ");
    let extra = [
        ("definition", "L2 norm of every token after every block; outliers: norm > max(median + 6*1.4826*MAD, 2*median) of the layer's patch norms".to_string()),
        ("outliers", outliers),
        ("layout", "one tile per layer, row-major, layer 0 first; min-max per layer".into()),
    ];
    let (h, w) = input_hw;
    let scale = (256.0 / h.max(w) as f64).min(1.0);
    let (th, tw) = ((h as f64 * scale) as usize, (w as f64 * scale) as usize);
    let png = || {
        let tiles: Vec<RgbImage> = (0..norms.layers)
            .map(|l| {
                let g = norms.patch_grid(l);
                let mut img = colorize(
                    &upsample(&normalize_min_max(&g), th, tw, Upsample::Nearest),
                    out.colormap,
                );
                outline(&mut img, &norms.outlier_grid(l), [255, 0, 0], 2);
                img
            })
            .collect();
        tile(
            &tiles,
            (norms.layers as f64).sqrt().ceil() as usize,
            4,
            [255, 255, 255],
        )
    };
    let mut files = vec![out.write(
        "token-norm",
        Method::TokenNorm,
        &extra,
        png,
        &[norms.layers, norms.tokens],
        NpyData::F32(&norms.norms),
    )?];
    if norms.layout.num_prefix() > 0 {
        let labels: Vec<String> = norms.layout.prefix.iter().map(|t| t.label()).collect();
        let path = out.out_dir.join(format!("{}_prefix-mass.csv", out.stem));
        super::tables::write_text(
            &path,
            &super::tables::prefix_mass_csv(&labels, prefix_mass),
            out.overwrite,
        )?;
        files.push(path);
    }
    Ok(files)
}

/// Feature PCA: PNG = each image's RGB grid at the model input size, side by side; NPY `[gh, gw, 3]`
/// (`[images, gh, gw, 3]` when several images were analysed jointly; they then share one grid).
pub fn feature_pca(
    out: &Output,
    images: &[FeaturePcaImage],
    layer: &str,
    threshold: Option<f64>,
    input_hw: (usize, usize),
) -> Result<PathBuf> {
    let first = images
        .first()
        .ok_or_else(|| ExportError::Nothing("no images".into()))?;
    let data: Vec<f32> = images.iter().flat_map(|i| i.rgb.iter().copied()).collect();
    let mut shape = vec![first.grid_h, first.grid_w, 3];
    if images.len() > 1 {
        shape.insert(0, images.len());
    }
    let extra = [
        ("layer", layer.to_string()),
        ("images", images.len().to_string()),
        (
            "definition",
            format!(
                "PCA of patch features; foreground = first component (oriented so border patches score lower, min-max scaled) > {}; RGB = first three components of the foreground, min-max scaled",
                threshold.map_or("none (all patches)".into(), |t| t.to_string())
            ),
        ),
    ];
    out.write(
        &format!("{layer}_feature-pca"),
        Method::FeaturePca,
        &extra,
        || {
            let tiles: Vec<RgbImage> = images
                .iter()
                .map(|i| {
                    rgb_grid(
                        i.grid_h,
                        i.grid_w,
                        &i.rgb,
                        input_hw.1 as u32,
                        input_hw.0 as u32,
                    )
                })
                .collect();
            tile(&tiles, tiles.len(), 4, [255, 255, 255])
        },
        &shape,
        NpyData::F32(&data),
    )
}

/// Position-embedding similarity: PNG = `gh × gw` tiles, tile (r, c) coloured by patch (r, c)'s cosine
/// similarity to every patch on a fixed −1..1 scale; NPY `[gh, gw, gh, gw]`.
pub fn pos_sim(out: &Output, sim: &PosSimilarity, grid_source: &str) -> Result<PathBuf> {
    let (gh, gw) = (sim.grid_h, sim.grid_w);
    let extra = [
        ("grid", format!("{gh}x{gw} ({grid_source})")),
        (
            "definition",
            "cosine similarity between patch position embeddings (prefix rows removed); tile (r,c) = patch (r,c) vs every patch; colour scale -1..1".into(),
        ),
    ];
    out.write(
        &format!("pos-sim_{gh}x{gw}"),
        Method::PosSim,
        &extra,
        || pos_sim_image(sim, out.colormap),
        &[gh, gw, gh, gw],
        NpyData::F32(&sim.data),
    )
}

/// One block's relative position bias: PNG = a tile per head (each min-max scaled, centre = offset (0, 0));
/// NPY `[heads, 2h−1, 2w−1]`.
pub fn rel_bias(out: &Output, layer: usize, heads: &[crate::grid::Grid]) -> Result<PathBuf> {
    let (h, w) = heads.first().map_or((0, 0), |g| (g.h, g.w));
    let data: Vec<f32> = heads.iter().flat_map(|g| g.data.iter().copied()).collect();
    let extra = [
        ("layer", layer.to_string()),
        (
            "definition",
            format!(
                "learned relative position bias added to the attention scores, one {h}x{w} tile per head: entry \
                 (r, c) is the bias for a key at offset (r - {}, c - {}) from the query; each tile min-max scaled",
                h / 2,
                w / 2
            ),
        ),
    ];
    out.write(
        &format!("L{layer:02}_rel-bias"),
        Method::RelBias,
        &extra,
        || crate::render::figures::rel_bias_image(heads, out.colormap),
        &[heads.len(), h, w],
        NpyData::F32(&data),
    )
}

/// Patch-embedding filter components: PNG = the components tiled (7 per row, first = largest variance),
/// each `P × P` scaled up; NPY `[k, P, P, 3]`.
pub fn patch_pca(out: &Output, f: &PatchFilters) -> Result<PathBuf> {
    let explained = f
        .explained
        .iter()
        .map(|e| format!("{:.4}", e))
        .collect::<Vec<_>>()
        .join(", ");
    let extra = [
        ("components", f.count.to_string()),
        ("explained_variance_ratio", explained),
        (
            "definition",
            "principal components of the centred patch-embedding filters (length 3*P*P), each min-max scaled, reshaped PxPx3; sign: largest loading positive".into(),
        ),
    ];
    let p = f.patch;
    out.write(
        "patch-pca",
        Method::PatchPca,
        &extra,
        || patch_pca_image(f),
        &[f.count, p, p, 3],
        NpyData::F32(&f.components),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_labels_become_file_names() {
        assert_eq!(file_safe("CLS"), "cls");
        assert_eq!(file_safe("REG2"), "reg2");
        assert_eq!(file_safe("patch (3, 5)"), "p3-5");
        assert_eq!(file_safe("patch row 3, col 5"), "p3-5");
    }
}
