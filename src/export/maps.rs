//! Heatmap PNGs of attention maps: one map, all heads of a layer (each, and a grid), all layers.
//!
//! Styles: `Overlay` blends the min–max normalised map (bilinear between patch centres) over the photo
//! at the photo's own resolution; `Raw` writes the coloured map alone at the model's input resolution,
//! each patch a solid `P × P` block. Head grids tile every head of a layer at the model's input resolution.
//! File names: `{stem}_{query}_L{layer:02}_{head}.png` and `{stem}_{query}_L{layer:02}_heads.png`, the stem
//! naming the image and the model ([`super::export_stem`]: `chelsea_dinov2-vit-s-14_cls_L11_mean.png`).
use std::path::PathBuf;

use image::RgbImage;

use super::ExportError;
use super::png_file::{encode_png, par_map, write_encoded};
use crate::analysis::{HeadSel, QueryRows};
use crate::grid::Grid;
use crate::model::preprocess::resize;
use crate::render::{Colormap, Upsample, colorize, normalize_min_max, overlay, tile, upsample};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerSpec {
    One(usize),
    All,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HeadSpec {
    One(HeadSel),
    /// Every head as its own file, plus the grid of all heads.
    All,
    /// Only the grid of all heads.
    GridOnly,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Style {
    Overlay { opacity: f32 },
    Raw,
}

/// What to export, and where.
#[derive(Debug, Clone)]
pub struct MapExport {
    pub out_dir: PathBuf,
    pub stem: String,
    pub layers: LayerSpec,
    pub heads: HeadSpec,
    pub colormap: Colormap,
    pub style: Style,
    pub overwrite: bool,
    pub model_name: String,
    pub image_name: String,
    /// The intervention the maps were made under (`Intervention::describe`), if any: a text chunk of every file.
    pub intervention: Option<String>,
    /// Add a colour bar with the map's value range under each single map.
    pub colour_bar: bool,
    /// Write each single map's raw values `[gh, gw]` as `.npy` next to its PNG.
    pub npy: bool,
    /// With all layers: also an L × (1 + H) mosaic (rows = layers; columns = the head mean, then each head).
    pub mosaic: bool,
    /// Resize single maps so their longer side is this many pixels (None: the photo's resolution).
    pub long_side: Option<u32>,
    /// Also write each map, head grid and mosaic as SVG (maps embedded; tile names, the colour bar and its
    /// text as vectors).
    pub svg: bool,
}

/// `img` resized (triangle filter, antialiased when shrinking) so its longer side is `long` pixels.
pub fn fit_long_side(img: RgbImage, long: Option<u32>) -> RgbImage {
    let Some(long) = long.filter(|&l| l > 0) else {
        return img;
    };
    let (w, h) = img.dimensions();
    let scale = long as f64 / w.max(h).max(1) as f64;
    let (nw, nh) = (
        ((w as f64 * scale).round() as u32).max(1),
        ((h as f64 * scale).round() as u32).max(1),
    );
    if (nw, nh) == (w, h) {
        return img;
    }
    image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle)
}

/// A short, file-name-safe label of a query token: `cls`, `reg0`, `p3-7`.
pub fn query_label(rows: &QueryRows) -> String {
    if rows.kind == crate::analysis::RowsKind::Probe {
        return "map".into();
    }
    match (
        rows.layout.prefix.get(rows.query),
        rows.layout.patch_of_token(rows.query),
    ) {
        (Some(p), _) => p.label().to_lowercase(),
        (None, Some((r, c))) => format!("p{r}-{c}"),
        _ => format!("t{}", rows.query),
    }
}

/// Render one map in the requested style. `photo_small` is the photo at the model input size; `small` draws
/// overlays at that size instead of the photo's.
pub fn render(
    map: &Grid,
    photo: &RgbImage,
    photo_small: &RgbImage,
    style: Style,
    cmap: Colormap,
    small: bool,
) -> RgbImage {
    let target = if small { photo_small } else { photo };
    match style {
        Style::Overlay { opacity } => overlay(target, map, cmap, opacity, Upsample::Bilinear),
        Style::Raw => {
            let (w, h) = photo_small.dimensions();
            colorize(
                &upsample(
                    &normalize_min_max(map),
                    h as usize,
                    w as usize,
                    Upsample::Nearest,
                ),
                cmap,
            )
        }
    }
}

/// One file of a map export.
enum Out {
    Single(usize, HeadSel),
    Grid(usize),
    Mosaic,
}

/// What an export writes: its layers, its files in order, and their paths.
struct Plan {
    layers: Vec<usize>,
    outs: Vec<Out>,
}

impl Plan {
    fn new(rows: &QueryRows, req: &MapExport) -> Result<Plan, ExportError> {
        let layers: Vec<usize> = match req.layers {
            LayerSpec::One(l) if l < rows.layers => vec![l],
            LayerSpec::One(l) => {
                return Err(ExportError::Nothing(format!(
                    "layer {l} does not exist (the model has {} layers: 0..{})",
                    rows.layers,
                    rows.layers - 1
                )));
            }
            LayerSpec::All => (0..rows.layers).collect(),
        };
        if let HeadSpec::One(HeadSel::Head(h)) = req.heads {
            if let Some(&l) = layers.iter().find(|&&l| h >= rows.heads_at(l)) {
                let own = rows.heads_at(l);
                return Err(ExportError::Nothing(if rows.layer_heads.is_empty() {
                    format!(
                        "head {h} does not exist (the model has {own} heads: 0..{})",
                        own - 1
                    )
                } else {
                    format!(
                        "head {h} does not exist in layer {l} ({own} heads there: 0..{}); the stages have different \
                         head counts",
                        own - 1
                    )
                }));
            }
        }
        let mut outs = Vec::new();
        for &l in &layers {
            match req.heads {
                HeadSpec::One(h) => outs.push(Out::Single(l, h)),
                HeadSpec::All => {
                    outs.extend((0..rows.heads_at(l)).map(|h| Out::Single(l, HeadSel::Head(h))))
                }
                HeadSpec::GridOnly => {}
            }
            if matches!(req.heads, HeadSpec::All | HeadSpec::GridOnly) {
                outs.push(Out::Grid(l));
            }
        }
        if req.mosaic && req.layers == LayerSpec::All {
            outs.push(Out::Mosaic);
        }
        Ok(Plan { layers, outs })
    }

    /// The PNG of `out`.
    fn path(req: &MapExport, q: &str, out: &Out) -> PathBuf {
        let name = match out {
            Out::Single(l, h) => format!("{}_{q}_L{l:02}_{}.png", req.stem, h.label()),
            Out::Grid(l) => format!("{}_{q}_L{l:02}_heads.png", req.stem),
            Out::Mosaic => format!("{}_{q}_mosaic.png", req.stem),
        };
        req.out_dir.join(name)
    }

    /// Every file the export writes: the PNGs, then the `.npy` of each single map when asked for.
    fn files(&self, rows: &QueryRows, req: &MapExport) -> Vec<PathBuf> {
        let q = query_label(rows);
        let pngs = self.outs.iter().map(|o| Self::path(req, &q, o));
        let npys = self
            .outs
            .iter()
            .filter(|o| req.npy && matches!(o, Out::Single(..)))
            .map(|o| Self::path(req, &q, o).with_extension("npy"));
        let svgs = self
            .outs
            .iter()
            .filter(|_| req.svg)
            .map(|o| Self::path(req, &q, o).with_extension("svg"));
        pngs.clone().chain(npys).chain(svgs).collect()
    }
}

/// Exactly the files exporting `req` for `rows` writes (none when the request is refused).
pub fn planned_files(rows: &QueryRows, req: &MapExport) -> Vec<PathBuf> {
    Plan::new(rows, req).map_or_else(|_| Vec::new(), |p| p.files(rows, req))
}

/// Write the requested maps; returns the files written.
pub fn export_maps(
    rows: &QueryRows,
    photo: &RgbImage,
    input_hw: (usize, usize),
    req: &MapExport,
) -> Result<Vec<PathBuf>, ExportError> {
    let Plan { layers, outs } = Plan::new(rows, req)?;
    let photo_small = resize(photo, input_hw.0, input_hw.1);
    let q = query_label(rows);
    let style_name = match req.style {
        Style::Overlay { opacity } => format!("overlay (opacity {opacity})"),
        Style::Raw => "raw".into(),
    };
    let provenance = |layer: usize, head: &str| -> Vec<(String, String)> {
        [
            ("vitscope.model", req.model_name.clone()),
            ("vitscope.image", req.image_name.clone()),
            ("vitscope.method", "attention".into()),
            ("vitscope.layer", layer.to_string()),
            ("vitscope.head", head.to_string()),
            ("vitscope.query", rows.label()),
            (
                "vitscope.input_size",
                format!("{}x{}", input_hw.0, input_hw.1),
            ),
            ("vitscope.colormap", req.colormap.name().into()),
            ("vitscope.style", style_name.clone()),
            (
                "vitscope.normalization",
                "min-max per map, patch tokens only".into(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(
            req.intervention
                .iter()
                .map(|i| ("vitscope.intervention".to_string(), i.clone())),
        )
        .collect()
    };
    let mosaic = req.mosaic && req.layers == LayerSpec::All;
    let grids = matches!(req.heads, HeadSpec::All | HeadSpec::GridOnly);

    // The small tiles (model input size) of the head grids and the mosaic, each rendered once:
    // slot `l · (H + 1)` is layer l's head mean, `l · (H + 1) + 1 + h` its head h (H: the most heads of any
    // layer; a Swin layer with fewer leaves its last slots empty).
    let slots = rows.heads + 1;
    let sel_of = |slot: usize| match slot {
        0 => HeadSel::Mean,
        s => HeadSel::Head(s - 1),
    };
    let wanted: Vec<usize> = layers
        .iter()
        .flat_map(|&l| (0..=rows.heads_at(l)).map(move |s| l * slots + s))
        // the head means and the heads, for the grids (mean first) and the mosaic
        .filter(|_| grids || mosaic)
        .collect();
    let name_of = |i: usize| format!("L{} {}", i / slots, sel_of(i % slots).label());
    let rendered = par_map(&wanted, |&i| {
        let plain = render(
            &rows.patch_map(i / slots, sel_of(i % slots)),
            photo,
            &photo_small,
            req.style,
            req.colormap,
            true,
        );
        // a figure's tiles say what they are (L2 h3), where they are large enough to hold it; the SVG's
        // tiles stay plain, their names drawn as vector text
        let mut img = plain.clone();
        label_tile(&mut img, &name_of(i));
        (i, img, req.svg.then_some(plain))
    });
    let mut small: Vec<Option<RgbImage>> = vec![None; rows.layers * slots];
    let mut plain: Vec<Option<RgbImage>> = vec![None; rows.layers * slots];
    for (i, img, p) in rendered {
        small[i] = Some(img);
        plain[i] = p;
    }
    let tiles_of = |range: std::ops::Range<usize>| -> Vec<&RgbImage> {
        range.filter_map(|i| small[i].as_ref()).collect()
    };
    // the SVG of tiles `slots_used` (None: a blank cell) in `cols` columns `gap` apart, each named
    let grid_svg = |slots_used: &[Option<usize>],
                    cols: usize,
                    gap: u32,
                    text: &[(String, String)]|
     -> Result<Vec<u8>, ExportError> {
        let size = slots_used
            .iter()
            .flatten()
            .find_map(|&i| plain[i].as_ref())
            .map_or((1, 1), |t| t.dimensions());
        let blank = RgbImage::from_pixel(size.0, size.1, image::Rgb([255, 255, 255]));
        let tiles: Vec<&RgbImage> = slots_used
            .iter()
            .map(|s| s.and_then(|i| plain[i].as_ref()).unwrap_or(&blank))
            .collect();
        let img = tile(&tiles, cols, gap, [255, 255, 255]);
        let labels: Vec<super::svg::TileLabel> = slots_used
            .iter()
            .enumerate()
            .filter_map(|(k, s)| s.map(|i| (k, i)))
            .map(|(k, i)| {
                let (r, c) = ((k / cols) as u32, (k % cols) as u32);
                super::svg::TileLabel {
                    x: gap + c * (size.0 + gap),
                    y: gap + r * (size.1 + gap),
                    tile_w: size.0,
                    text: name_of(i),
                }
            })
            .collect();
        super::svg::figure_svg(
            &img,
            &labels,
            req.colormap,
            super::svg::BarScale::Relative,
            TILE_UNITS,
            text,
        )
        .map(String::into_bytes)
        .map_err(|e| ExportError::Nothing(format!("cannot encode the SVG's maps: {e}")))
    };

    let make = |out: &Out| -> Result<(PathBuf, Vec<u8>, Option<Vec<u8>>), ExportError> {
        let mut svg = None;
        let (path, img, text) = match *out {
            Out::Single(l, h) => {
                let map = rows.patch_map(l, h);
                let mut img = fit_long_side(
                    render(&map, photo, &photo_small, req.style, req.colormap, false),
                    req.long_side,
                );
                let (lo, hi) = map.min_max();
                let text = provenance(l, &h.label());
                if req.svg {
                    let s =
                        super::svg::map_svg(&img, req.colormap, (lo, hi), ATTENTION_UNITS, &text)
                            .map_err(|e| {
                            ExportError::Nothing(format!("cannot encode the SVG's map: {e}"))
                        })?;
                    svg = Some(s.into_bytes());
                }
                if req.colour_bar {
                    img = with_colour_bar(&img, req.colormap, lo, hi, ATTENTION_UNITS);
                }
                (Plan::path(req, &q, out), img, text)
            }
            Out::Grid(l) => {
                // the head mean first, then every head
                let own = rows.heads_at(l);
                let cols = grid_columns(own + 1);
                let tiles = tiles_of(l * slots..l * slots + 1 + own);
                let text = provenance(
                    l,
                    &format!("the head mean, then all {own} heads (row-major, h0 first)"),
                );
                let mut img = tile(&tiles, cols, 4, [255, 255, 255]);
                if req.svg {
                    let used: Vec<Option<usize>> =
                        (l * slots..l * slots + 1 + own).map(Some).collect();
                    svg = Some(grid_svg(&used, cols, 4, &text)?);
                }
                if req.colour_bar {
                    img = with_relative_colour_bar(&img, req.colormap, TILE_UNITS);
                }
                (Plan::path(req, &q, out), img, text)
            }
            Out::Mosaic => {
                let mut text = provenance(0, "all");
                text.retain(|(k, _)| k != "vitscope.layer" && k != "vitscope.head");
                text.push((
                    "vitscope.layout".into(),
                    format!(
                        "{} rows (layers 0..{}) x {slots} columns (head mean, then h0..h{}){}",
                        rows.layers,
                        rows.layers - 1,
                        rows.heads - 1,
                        if rows.layer_heads.is_empty() {
                            ""
                        } else {
                            "; a layer with fewer heads leaves its last columns blank"
                        }
                    ),
                ));
                let path = Plan::path(req, &q, out);
                // a missing head (a Swin stage with fewer heads) is a blank tile, so columns stay heads
                let size = small
                    .iter()
                    .flatten()
                    .next()
                    .map_or((1, 1), |i| i.dimensions());
                let blank = RgbImage::from_pixel(size.0, size.1, image::Rgb([255, 255, 255]));
                let tiles: Vec<&RgbImage> = (0..rows.layers * slots)
                    .map(|i| small[i].as_ref().unwrap_or(&blank))
                    .collect();
                let mut all = tile(&tiles, slots, 2, [255, 255, 255]);
                if req.svg {
                    let used: Vec<Option<usize>> = (0..rows.layers * slots)
                        .map(|i| small[i].is_some().then_some(i))
                        .collect();
                    svg = Some(grid_svg(&used, slots, 2, &text)?);
                }
                if req.colour_bar {
                    all = with_relative_colour_bar(&all, req.colormap, TILE_UNITS);
                }
                (path, all, text)
            }
        };
        let bytes = encode_png(&path, &img, &text)?;
        Ok((path, bytes, svg))
    };

    let mut written = Vec::new();
    let mut written_npy = Vec::new();
    let mut written_svg = Vec::new();
    // a few files per core at a time: encoded PNGs wait in memory only until their chunk is written
    let chunk = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
    for part in outs.chunks(chunk) {
        for (out, made) in part.iter().zip(par_map(part, make)) {
            let (path, bytes, svg) = made?;
            if let Some(svg) = svg {
                let p = path.with_extension("svg");
                write_encoded(&p, &svg, req.overwrite)?;
                written_svg.push(p);
            }
            if let (Out::Single(l, h), true) = (out, req.npy) {
                let m = rows.patch_map(*l, *h);
                let p = path.with_extension("npy");
                super::npy::write_npy(
                    &p,
                    &[m.h, m.w],
                    super::npy::NpyData::F32(&m.data),
                    req.overwrite,
                )?;
                written_npy.push(p);
            }
            write_encoded(&path, &bytes, req.overwrite)?;
            written.push(path);
        }
    }
    written.extend(written_npy);
    written.extend(written_svg);
    Ok(written)
}

/// Columns for `n` tiles: about square, with the fewest blank cells in the last row (7 tiles: 4 + 3).
pub fn grid_columns(n: usize) -> usize {
    let c = (n as f64).sqrt().ceil().max(1.0) as usize;
    [c, c + 1]
        .into_iter()
        .min_by_key(|&c| n.div_ceil(c) * c - n)
        .unwrap_or(1)
}

/// What the colours of a grid of tiles measure, each tile scaled on its own.
pub const TILE_UNITS: &str = "attention weight; each tile scaled to its own min to max";

/// What a method's map measures, from its name or caption (`rollout`, `Gradient rollout (8 ms)`,
/// `grad-rollout`), for colour bars.
pub fn method_units(name: &str) -> &'static str {
    let c = name.to_ascii_lowercase();
    if c.starts_with("rollout") {
        "rollout: attention reaching the query through every layer"
    } else if c.starts_with("flow") {
        "attention flow (maximum flow to the query)"
    } else if c.starts_with("gradient rollout") || c.starts_with("grad-rollout") {
        "gradient-weighted rollout (relative units)"
    } else if c.starts_with("relevance") {
        "relevance (relative units)"
    } else {
        "attention weight (softmax probability)"
    }
}

/// What an attention map's colours measure, for colour bars.
pub const ATTENTION_UNITS: &str = "attention weight (softmax probability), min to max of this map";

/// The font size of a tile's label: sized to the tile, none under 48 px wide, where it would cover the map.
pub(crate) fn label_font(tile_w: u32) -> Option<f32> {
    (tile_w >= 48).then(|| (tile_w as f32 / 12.0).clamp(9.0, 16.0))
}

/// The darkened box behind a tile's label: width and height.
pub(crate) fn label_box(tile_w: u32, size: f32, text: &str) -> (u32, u32) {
    (
        ((size * 0.55 * text.chars().count() as f32) as u32 + 6).min(tile_w),
        (size * 1.3) as u32 + 2,
    )
}

/// The ends of a colour bar for tiles each scaled to their own range.
pub(crate) fn relative_ticks() -> Vec<(f64, String)> {
    vec![(0.0, "low".to_string()), (1.0, "high".to_string())]
}

/// Write `text` in the tile's top-left corner, white on a darkened box, sized to the tile (nothing on tiles
/// under 48 px wide, where it would cover the map).
fn label_tile(img: &mut RgbImage, text: &str) {
    let w = img.width();
    let Some(size) = label_font(w) else {
        return;
    };
    let (box_w, box_h) = label_box(w, size, text);
    let box_h = box_h.min(img.height());
    for y in 0..box_h {
        for x in 0..box_w {
            let p = img.get_pixel_mut(x, y);
            p.0 = p.0.map(|c| (c as f32 * 0.35) as u8);
        }
    }
    crate::render::text::text(img, 3.0, 1.0, size, text, [255, 255, 255]);
}

/// The font size of a colour bar under an image `w` pixels wide: readable at the export size.
pub(crate) fn bar_font(w: u32) -> f32 {
    (w as f32 / 40.0).clamp(11.0, 24.0)
}

/// Where a colour bar under an image `w` pixels wide starts and ends: room at the ends for a centred label.
pub(crate) fn bar_span(w: u32) -> (u32, u32) {
    let margin = ((bar_font(w) * 2.0) as u32).min(w / 4);
    (margin, w.saturating_sub(margin).max(margin + 2))
}

/// The ticks of a colour bar over `lo..hi` at round values, each with its label.
pub(crate) fn bar_ticks(lo: f32, hi: f32) -> Vec<(f64, String)> {
    let ticks = crate::render::text::nice_ticks(lo as f64, hi as f64, 5);
    let step = ticks.windows(2).map(|w| w[1] - w[0]).next().unwrap_or(0.0);
    ticks.iter().map(|&v| (v, tick_label(v, step))).collect()
}

/// The height a colour bar adds under an image `w` pixels wide.
pub fn colour_bar_height(w: u32) -> u32 {
    let f = bar_font(w);
    let line = (f * 1.3).ceil() as u32;
    6 + f.round() as u32 + 4 + line + line + 4
}

/// `img` with a colour bar underneath: ticks at round values of `lo..hi`, and what the colours measure
/// (`what`, with its units).
pub fn with_colour_bar(img: &RgbImage, cmap: Colormap, lo: f32, hi: f32, what: &str) -> RgbImage {
    bar_under(img, cmap, (lo as f64, hi as f64), &bar_ticks(lo, hi), what)
}

/// `img` with a colour bar whose ends are named, not valued: for figures whose tiles are each scaled to
/// their own range.
pub fn with_relative_colour_bar(img: &RgbImage, cmap: Colormap, what: &str) -> RgbImage {
    bar_under(img, cmap, (0.0, 1.0), &relative_ticks(), what)
}

fn bar_under(
    img: &RgbImage,
    cmap: Colormap,
    (lo, hi): (f64, f64),
    labels: &[(f64, String)],
    what: &str,
) -> RgbImage {
    use crate::render::text::{text, text_width};
    let (w, h) = img.dimensions();
    let f = bar_font(w);
    let line = (f * 1.3).ceil();
    let bar_h = f.round() as u32;
    let pad = 6u32;
    let mut out = RgbImage::from_pixel(w, h + colour_bar_height(w), image::Rgb([255, 255, 255]));
    image::imageops::replace(&mut out, img, 0, 0);
    let (x0, x1) = bar_span(w);
    for x in x0..x1 {
        let t = (x - x0) as f32 / (x1 - x0 - 1).max(1) as f32;
        for y in h + pad..h + pad + bar_h {
            out.put_pixel(x, y, image::Rgb(cmap.rgb(t)));
        }
    }
    let black = [0, 0, 0];
    let y_tick = h + pad + bar_h;
    for (v, label) in labels {
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
        let x = x0 as f64 + t.clamp(0.0, 1.0) * (x1 - x0 - 1) as f64;
        for y in y_tick..y_tick + 4 {
            out.put_pixel(x.round() as u32, y, image::Rgb(black));
        }
        let tw = text_width(f, label) as f64;
        let tx = (x - tw / 2.0).clamp(0.0, (w as f64 - tw).max(0.0));
        text(&mut out, tx as f32, (y_tick + 4) as f32, f, label, black);
    }
    let tw = text_width(f, what);
    let tx = ((w as f32 - tw) / 2.0).max(2.0);
    text(
        &mut out,
        tx,
        y_tick as f32 + 4.0 + line,
        f,
        what,
        [60, 60, 60],
    );
    out
}

/// A tick's value with as many decimals as the step between ticks needs (scientific below 1e-4).
fn tick_label(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if step > 0.0 && step < 1e-4 {
        return format!("{v:.1e}");
    }
    let decimals = if step > 0.0 {
        (-step.log10().floor()).max(0.0) as usize
    } else {
        3
    };
    format!("{v:.decimals$}")
}

/// The files in the output folder that exporting `req` for `rows` would replace (exactly the PNG and `.npy`
/// names it writes), sorted by name; the app asks before overwriting any of them, and only then.
pub fn existing_files(req: &MapExport, rows: &QueryRows) -> Vec<String> {
    let mut found: Vec<String> = planned_files(rows, req)
        .into_iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    found.sort();
    found
}

/// The same request under the exact name asked for when none of its files exists, else under the first of
/// `name-2`, `name-3`, … whose files are all free, so an export from the app never overwrites an earlier one
/// unless the user said so.
pub fn with_free_stem(mut req: MapExport, rows: &QueryRows) -> MapExport {
    let base = req.stem.clone();
    let mut n = 1;
    while !existing_files(&req, rows).is_empty() {
        n += 1;
        req.stem = format!("{base}-{n}");
    }
    req
}

#[cfg(test)]
mod tests {
    use image::{Rgb, RgbImage};

    #[test]
    fn head_grids_leave_few_blank_cells() {
        use super::grid_columns;
        assert_eq!(grid_columns(5), 3);
        assert_eq!(grid_columns(7), 4);
        assert_eq!(grid_columns(13), 5);
        assert_eq!(grid_columns(1), 1);
    }

    #[test]
    fn tiles_are_labelled_in_their_corner_when_large_enough() {
        let mut big = RgbImage::from_pixel(224, 150, Rgb([255, 255, 255]));
        super::label_tile(&mut big, "L11 h5");
        assert_eq!(big.get_pixel(0, 0).0, [89, 89, 89], "a darkened box");
        assert_eq!(big.get_pixel(223, 149).0, [255; 3], "the rest untouched");
        let white_in_box = (0..60)
            .flat_map(|x| (0..20).map(move |y| (x, y)))
            .filter(|&(x, y)| big.get_pixel(x, y).0[0] > 200)
            .count();
        assert!(white_in_box > 20, "the text is drawn: {white_in_box}");
        let mut small = RgbImage::from_pixel(36, 24, Rgb([255, 255, 255]));
        super::label_tile(&mut small, "L0 h1");
        assert!(
            small.pixels().all(|p| p.0 == [255; 3]),
            "small tiles stay clean"
        );
    }
}
