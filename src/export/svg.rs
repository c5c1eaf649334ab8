//! A single map as SVG, for papers: the map over the photo embedded as a PNG, and next to it what a raster
//! cannot scale, as vectors — the colour bar (a gradient sampled from the colormap), its ticks, their values
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

/// The SVG of `map` (already coloured and blended) with a vector colour bar for `lo..hi` labelled `what`;
/// `provenance` goes into `<metadata>` as `key: value` lines.
pub fn map_svg(
    map: &RgbImage,
    cmap: Colormap,
    (lo, hi): (f32, f32),
    what: &str,
    provenance: &[(String, String)],
) -> Result<String, image::ImageError> {
    let (w, h) = map.dimensions();
    let mut png = Vec::new();
    map.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    let data = base64::engine::general_purpose::STANDARD.encode(&png);
    let f = super::maps::bar_font(w);
    let bar_h = f.round();
    let (x0, x1) = super::maps::bar_span(w);
    let (x0, x1) = (x0 as f32, x1 as f32);
    let y_bar = h as f32 + 6.0;
    let total_h = y_bar + bar_h + 4.0 + 2.6 * f + 8.0;
    let mut out = String::new();
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"{w}\" height=\"{total_h:.0}\" viewBox=\"0 0 {w} {total_h:.0}\" font-family=\"sans-serif\">\n"
    ));
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
        "<rect width=\"{w}\" height=\"{total_h:.0}\" fill=\"white\"/>\n<image x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" xlink:href=\"data:image/png;base64,{data}\"/>\n"
    ));
    out.push_str(&format!(
        "<rect x=\"{x0:.1}\" y=\"{y_bar:.1}\" width=\"{:.1}\" height=\"{bar_h:.1}\" fill=\"url(#colourbar)\"/>\n",
        x1 - x0
    ));
    let y_tick = y_bar + bar_h;
    for (v, label) in &super::maps::bar_ticks(lo, hi) {
        let t = if hi > lo {
            ((*v - lo as f64) / (hi - lo) as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let x = x0 as f64 + t * (x1 - x0) as f64;
        out.push_str(&format!(
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{y_tick:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"{f:.1}\" text-anchor=\"middle\">{}</text>\n",
            y_tick + 4.0,
            y_tick + 4.0 + f,
            xml(label)
        ));
    }
    out.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{f:.1}\" text-anchor=\"middle\" fill=\"#3c3c3c\">{}</text>\n</svg>\n",
        w as f32 / 2.0,
        y_tick + 4.0 + 2.3 * f,
        xml(what)
    ));
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
