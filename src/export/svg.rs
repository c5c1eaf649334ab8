//! Maps and figures of maps (head grids, mosaics, a view's panes) as SVG, for papers: the maps over the photo
//! embedded as PNG, and next to them what a raster cannot scale, as vectors — tile names, captions, — the colour bar (a gradient sampled from the colormap), its ticks, their values
//! and what the colours measure — plus the provenance as metadata. The map is referenced with `xlink:href`,
//! which SVG 1.1 renderers (Inkscape, librsvg, ImageMagick) and browsers all read.
use base64::Engine as _;
use image::RgbImage;

use crate::render::Colormap;

/// Escape text for XML.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// How a figure's colour bar is labelled: round values of one map's range, or (tiles each scaled to their
/// own range) its ends named "low" and "high".
#[derive(Debug, Clone, Copy)]
pub enum BarScale {
    Values(f32, f32),
    Relative,
}

/// A tile's name in a figure (`L2 h3`), drawn as vector text on a darkened box at the tile's corner.
#[derive(Debug, Clone)]
pub struct TileLabel {
    pub x: u32,
    pub y: u32,
    /// The tile's width: the text is sized to it, and left out on tiles too small to hold it.
    pub tile_w: u32,
    pub text: String,
}

/// The SVG of `map` (already coloured and blended) with a vector colour bar for `lo..hi` labelled `what`;
/// `provenance` goes into `<metadata>` as `key: value` lines.
pub fn map_svg(
    map: &RgbImage,
    cmap: Colormap,
    (lo, hi): (f32, f32),
    what: &str,
    provenance: &[(String, String)],
) -> Result<String, image::ImageError> {
    figure_svg(map, &[], cmap, BarScale::Values(lo, hi), what, provenance)
}

/// An image embedded at (x, y) as a base64 PNG.
fn embed(out: &mut String, x: u32, y: u32, img: &RgbImage) -> Result<(), image::ImageError> {
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    let data = base64::engine::general_purpose::STANDARD.encode(&png);
    let (w, h) = img.dimensions();
    out.push_str(&format!(
        "<image x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" xlink:href=\"data:image/png;base64,{data}\"/>\n"
    ));
    Ok(())
}

/// The document's opening: size, the provenance as `<metadata>`, the colormap as a gradient, a white page.
fn open(w: u32, h: f32, cmap: Colormap, provenance: &[(String, String)]) -> String {
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"{w}\" height=\"{h:.0}\" viewBox=\"0 0 {w} {h:.0}\" font-family=\"sans-serif\">\n"
    );
    let meta: Vec<String> = provenance
        .iter()
        .map(|(k, v)| format!("{}: {}", xml(k), xml(v)))
        .collect();
    out.push_str(&format!("<metadata>{}</metadata>\n", meta.join("\n")));
    out.push_str("<defs><linearGradient id=\"colourbar\" x1=\"0\" x2=\"1\" y1=\"0\" y2=\"0\">\n");
    for i in 0..=32 {
        let t = i as f32 / 32.0;
        let [r, g, b] = cmap.rgb(t);
        out.push_str(&format!(
            "<stop offset=\"{t:.4}\" stop-color=\"#{r:02x}{g:02x}{b:02x}\"/>\n"
        ));
    }
    out.push_str("</linearGradient></defs>\n");
    out.push_str(&format!(
        "<rect width=\"{w}\" height=\"{h:.0}\" fill=\"white\"/>\n"
    ));
    out
}

/// The height a colour bar under something `w` pixels wide takes (the PNG's [`super::maps::colour_bar_height`]
/// layout: the bar, its tick labels and what it measures).
fn bar_height(w: u32) -> f32 {
    let f = super::maps::bar_font(w);
    6.0 + f.round() + 4.0 + 2.6 * f + 8.0
}

/// A colour bar under something `w` pixels wide whose bottom edge is at (x, y): the gradient, its ticks,
/// their labels and `what` the colours measure, all vectors.
fn bar(out: &mut String, x: u32, y: u32, w: u32, scale: BarScale, what: &str) {
    let f = super::maps::bar_font(w);
    let bar_h = f.round();
    let (x0, x1) = super::maps::bar_span(w);
    let (x0, x1) = ((x + x0) as f32, (x + x1) as f32);
    let y_bar = y as f32 + 6.0;
    out.push_str(&format!(
        "<rect x=\"{x0:.1}\" y=\"{y_bar:.1}\" width=\"{:.1}\" height=\"{bar_h:.1}\" fill=\"url(#colourbar)\"/>\n",
        x1 - x0
    ));
    let y_tick = y_bar + bar_h;
    let (lo, hi, ticks) = match scale {
        BarScale::Values(lo, hi) => (lo, hi, super::maps::bar_ticks(lo, hi)),
        BarScale::Relative => (0.0, 1.0, super::maps::relative_ticks()),
    };
    for (v, label) in &ticks {
        let t = if hi > lo {
            ((*v - lo as f64) / (hi - lo) as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let tx = x0 as f64 + t * (x1 - x0) as f64;
        out.push_str(&format!(
            "<line x1=\"{tx:.1}\" x2=\"{tx:.1}\" y1=\"{y_tick:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n<text x=\"{tx:.1}\" y=\"{:.1}\" font-size=\"{f:.1}\" text-anchor=\"middle\">{}</text>\n",
            y_tick + 4.0,
            y_tick + 4.0 + f,
            xml(label)
        ));
    }
    out.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{f:.1}\" text-anchor=\"middle\" fill=\"#3c3c3c\">{}</text>\n",
        x as f32 + w as f32 / 2.0,
        y_tick + 4.0 + 2.3 * f,
        xml(what)
    ));
}

/// The SVG of a figure: `img` (maps or tiles of maps, without text) embedded, `labels` on its tiles and a
/// colour bar under it, all text and the bar as vectors; `provenance` as `<metadata>`.
pub fn figure_svg(
    img: &RgbImage,
    labels: &[TileLabel],
    cmap: Colormap,
    scale: BarScale,
    what: &str,
    provenance: &[(String, String)],
) -> Result<String, image::ImageError> {
    let (w, h) = img.dimensions();
    let mut out = open(w, h as f32 + bar_height(w), cmap, provenance);
    embed(&mut out, 0, 0, img)?;
    for l in labels {
        let Some(size) = super::maps::label_font(l.tile_w) else {
            continue;
        };
        let (bw, bh) = super::maps::label_box(l.tile_w, size, &l.text);
        out.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{bw}\" height=\"{bh}\" fill=\"black\" fill-opacity=\"0.65\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{size:.1}\" fill=\"white\">{}</text>\n",
            l.x,
            l.y,
            l.x as f32 + 3.0,
            l.y as f32 + 1.0 + size,
            xml(&l.text)
        ));
    }
    bar(&mut out, 0, h, w, scale, what);
    out.push_str("</svg>\n");
    Ok(out)
}

/// One pane of a view's figure: its caption, its map over the photo, and its own colour bar (`None` when
/// the figure's one bar covers every pane).
pub struct PaneSvg<'a> {
    pub caption: &'a str,
    pub img: &'a RgbImage,
    pub bar: Option<(f32, f32, String)>,
}

/// A view's panes as an SVG laid out as [`crate::render::captioned_grid`] lays out the PNG (rows of `cols`,
/// each pane under its caption), the captions and colour bars as vectors, and `shared` (one scale for all
/// panes: its range and what it measures) as one bar under the whole figure.
pub fn panes_svg(
    panes: &[PaneSvg],
    cols: usize,
    cmap: Colormap,
    shared: Option<(f32, f32, &str)>,
    title: &str,
    provenance: &[(String, String)],
) -> Result<String, image::ImageError> {
    let l = crate::render::draw::PaneLayout::for_width(
        panes.iter().map(|p| p.img.width()).max().unwrap_or(1),
    );
    let (gap, cap_h, top) = (l.gap, l.caption_h, l.title_h);
    let cols = cols.clamp(1, panes.len().max(1));
    let rows = panes.len().div_ceil(cols);
    let bar_h = |p: &PaneSvg| {
        p.bar
            .as_ref()
            .map_or(0, |_| bar_height(p.img.width()).ceil() as u32)
    };
    let cell_w = panes.iter().map(|p| p.img.width()).max().unwrap_or(1);
    let cell_h = panes
        .iter()
        .map(|p| p.img.height() + bar_h(p))
        .max()
        .unwrap_or(1)
        + cap_h;
    let w = cols as u32 * (cell_w + gap) + gap;
    let h = top + rows as u32 * (cell_h + gap) + gap;
    let total_h = h as f32 + shared.map_or(0.0, |_| bar_height(w));
    let mut out = open(w, total_h, cmap, provenance);
    out.push_str(&format!(
        "<text x=\"{gap}\" y=\"{:.1}\" font-size=\"{:.1}\">{}</text>\n",
        (top as f32 - l.title_font) / 2.0 + 0.8 * l.title_font,
        l.title_font,
        xml(title)
    ));
    for (k, p) in panes.iter().enumerate() {
        let x = gap + (k % cols) as u32 * (cell_w + gap);
        let y = top + gap + (k / cols) as u32 * (cell_h + gap);
        out.push_str(&format!(
            "<text x=\"{x}\" y=\"{:.1}\" font-size=\"{:.1}\">{}</text>\n",
            y as f32 + l.caption_font,
            l.caption_font,
            xml(p.caption)
        ));
        embed(&mut out, x, y + cap_h, p.img)?;
        if let Some((lo, hi, what)) = &p.bar {
            let y_img = y + cap_h + p.img.height();
            bar(
                &mut out,
                x,
                y_img,
                p.img.width(),
                BarScale::Values(*lo, *hi),
                what,
            );
        }
    }
    if let Some((lo, hi, what)) = shared {
        bar(&mut out, 0, h, w, BarScale::Values(lo, hi), what);
    }
    out.push_str("</svg>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_embeds_the_map_and_draws_the_bar_as_vectors() {
        let map = RgbImage::from_pixel(200, 100, image::Rgb([10, 20, 30]));
        let svg = map_svg(
            &map,
            Colormap::Inferno,
            (0.0, 0.01),
            "attention <weight>",
            &[("vitscope.model".into(), "m".into())],
        )
        .unwrap();
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<stop ").count(), 33);
        assert!(svg.contains(">0.004</text>"), "{svg}");
        assert!(svg.contains("attention &lt;weight&gt;"));
        assert!(svg.contains("vitscope.model: m"));
        // the embedded PNG decodes to the map
        let b64 = svg
            .split("base64,")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let back = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(back, map);
    }
}

#[cfg(test)]
mod figure_tests {
    use super::*;

    #[test]
    fn a_grid_svg_names_its_tiles_as_text_and_its_bar_ends() {
        let grid = RgbImage::from_pixel(300, 150, image::Rgb([1, 2, 3]));
        let labels = vec![
            TileLabel {
                x: 4,
                y: 4,
                tile_w: 140,
                text: "L2 mean".into(),
            },
            TileLabel {
                x: 148,
                y: 4,
                tile_w: 140,
                text: "L2 h0".into(),
            },
            TileLabel {
                x: 4,
                y: 4,
                tile_w: 30,
                text: "too small".into(),
            },
        ];
        let svg = figure_svg(
            &grid,
            &labels,
            Colormap::Viridis,
            BarScale::Relative,
            "each tile",
            &[],
        )
        .unwrap();
        assert!(svg.contains(">L2 mean</text>") && svg.contains(">L2 h0</text>"));
        assert!(!svg.contains("too small"), "no label on a tile under 48 px");
        assert!(svg.contains(">low</text>") && svg.contains(">high</text>"));
        assert!(svg.contains(">each tile</text>"));
    }
}

#[cfg(test)]
mod panes_tests {
    use super::*;

    #[test]
    fn a_view_svg_has_each_caption_and_bar_or_one_shared_bar() {
        let a = RgbImage::from_pixel(120, 80, image::Rgb([9, 9, 9]));
        let b = RgbImage::from_pixel(120, 80, image::Rgb([200, 9, 9]));
        let panes = [
            PaneSvg {
                caption: "Attention · query CLS",
                img: &a,
                bar: Some((0.0, 0.5, "attention".into())),
            },
            PaneSvg {
                caption: "Rollout · query CLS",
                img: &b,
                bar: Some((0.0, 0.02, "rollout".into())),
            },
        ];
        let svg = panes_svg(&panes, 2, Colormap::Inferno, None, "model · image", &[]).unwrap();
        assert!(svg.contains(">model · image</text>"));
        assert_eq!(svg.matches("<image ").count(), 2);
        assert_eq!(
            svg.matches("fill=\"url(#colourbar)\"").count(),
            2,
            "a bar per pane"
        );
        assert!(svg.contains(">Attention · query CLS</text>") && svg.contains(">rollout</text>"));
        assert!(
            svg.contains(">0.4</text>") && svg.contains(">0.020</text>"),
            "{svg}"
        );
        let shared: Vec<PaneSvg> = panes
            .iter()
            .map(|p| PaneSvg {
                caption: p.caption,
                img: p.img,
                bar: None,
            })
            .collect();
        let svg = panes_svg(
            &shared,
            1,
            Colormap::Inferno,
            Some((0.0, 1.0, "one scale")),
            "t",
            &[],
        )
        .unwrap();
        assert_eq!(
            svg.matches("fill=\"url(#colourbar)\"").count(),
            1,
            "one bar for the figure"
        );
        assert!(svg.contains(">one scale</text>"));
    }
}
