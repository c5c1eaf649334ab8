//! Drawing on top of images: mask outlines, RGB grids, categorical colours.
use image::{Rgb, RgbImage};

use crate::grid::Grid;

/// The cell of an `h × w` grid that output pixel (x, y) of a `width × height` image falls in.
fn cell(g: &Grid, x: u32, y: u32, width: u32, height: u32) -> usize {
    let r = ((y as usize * g.h) / height as usize).min(g.h - 1);
    let c = ((x as usize * g.w) / width as usize).min(g.w - 1);
    r * g.w + c
}

/// Draw the outline of the cells where `mask > 0.5` (the grid stretched over the whole image), `thickness`
/// pixels wide, inside the masked region.
pub fn outline(img: &mut RgbImage, mask: &Grid, color: [u8; 3], thickness: u32) {
    let (w, h) = img.dimensions();
    if mask.h == 0 || mask.w == 0 {
        return;
    }
    let on = |x: i64, y: i64| {
        x >= 0
            && y >= 0
            && x < w as i64
            && y < h as i64
            && mask.data[cell(mask, x as u32, y as u32, w, h)] > 0.5
    };
    let t = thickness.max(1) as i64;
    let mut edge = Vec::new();
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            if on(x, y)
                && [(-t, 0), (t, 0), (0, -t), (0, t)]
                    .iter()
                    .any(|(dx, dy)| !on(x + dx, y + dy))
            {
                edge.push((x as u32, y as u32));
            }
        }
    }
    for (x, y) in edge {
        img.put_pixel(x, y, Rgb(color));
    }
}

/// An RGB grid (`[h·w·3]` in 0..1) as an image of `width × height`, each cell a solid block.
pub fn rgb_grid(h: usize, w: usize, rgb: &[f32], width: u32, height: u32) -> RgbImage {
    let g = Grid {
        h,
        w,
        data: vec![0.0; h * w],
    };
    RgbImage::from_fn(width, height, |x, y| {
        let at = cell(&g, x, y, width, height) * 3;
        Rgb([0, 1, 2].map(|k| (rgb[at + k] * 255.0).round().clamp(0.0, 255.0) as u8))
    })
}

/// A distinct colour for category `i` (Tableau 10, cycled).
pub fn category(i: usize) -> [u8; 3] {
    let c = colorous::TABLEAU10[i % colorous::TABLEAU10.len()];
    [c.r, c.g, c.b]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outline_traces_the_masked_block_only() {
        let mask = Grid::new(2, 2, vec![1.0, 0.0, 0.0, 0.0]).unwrap();
        let mut img = RgbImage::new(8, 8);
        outline(&mut img, &mask, [255, 0, 0], 1);
        // The top-left 4×4 block's border is red, its inside and everything else black.
        assert_eq!(img.get_pixel(0, 0).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(3, 1).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(1, 1).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(5, 5).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(4, 0).0, [0, 0, 0]);
    }

    #[test]
    fn figure_text_grows_with_the_panes() {
        let small = PaneLayout::for_width(451);
        assert_eq!((small.caption_h, small.title_h), (22, 28));
        assert_eq!(PaneLayout::for_width(200), small, "never below 15 px");
        let large = PaneLayout::for_width(1800);
        assert_eq!(large.caption_font, 40.0);
        assert!(large.caption_h >= 58 && large.title_h > large.caption_h);
        // the caption band holds the caption at every size
        let items = vec![("a caption".to_string(), RgbImage::new(1800, 10))];
        let g = captioned_grid(&items, 1, Some("title"));
        assert_eq!(g.height(), large.title_h + 10 + large.caption_h + 10 + 10);
    }

    #[test]
    fn rgb_grid_blocks() {
        let img = rgb_grid(1, 2, &[1.0, 0.0, 0.0, 0.0, 0.0, 1.0], 4, 2);
        assert_eq!(img.get_pixel(1, 1).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(2, 0).0, [0, 0, 255]);
    }
}

/// The layout of a figure of panes ([`captioned_grid`]), with text sized to the panes: captions of 15 px
/// for panes up to 480 px wide, growing with them (to 40 px), so a figure exported large stays readable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaneLayout {
    pub gap: u32,
    pub caption_font: f32,
    pub caption_h: u32,
    pub title_font: f32,
    pub title_h: u32,
}

impl PaneLayout {
    /// The layout for panes `cell_w` pixels wide.
    pub fn for_width(cell_w: u32) -> Self {
        let caption_font = (cell_w as f32 / 32.0).clamp(15.0, 40.0);
        let title_font = caption_font * 17.0 / 15.0;
        PaneLayout {
            gap: 10,
            caption_font,
            caption_h: (caption_font * 1.45).ceil() as u32,
            title_font,
            title_h: (title_font * 1.6).ceil() as u32,
        }
    }

    /// The layout of `items` (the widest one sets it).
    pub fn of(items: &[(String, RgbImage)]) -> Self {
        Self::for_width(items.iter().map(|(_, i)| i.width()).max().unwrap_or(1))
    }
}

/// Images of any sizes in rows of `cols`, each under its caption, on white, under the figure's `title` (what
/// model saw which image) when given: every cell is as large as the largest image, which sits at its top-left.
pub fn captioned_grid(items: &[(String, RgbImage)], cols: usize, title: Option<&str>) -> RgbImage {
    let grid = untitled_grid(items, cols);
    let Some(title) = title else {
        return grid;
    };
    let l = PaneLayout::of(items);
    let mut out = RgbImage::from_pixel(
        grid.width(),
        grid.height() + l.title_h,
        image::Rgb([255, 255, 255]),
    );
    let pad = (l.title_h as f32 - l.title_font) / 2.0;
    super::text::text(&mut out, l.gap as f32, pad, l.title_font, title, [0, 0, 0]);
    image::imageops::replace(&mut out, &grid, 0, l.title_h as i64);
    out
}

fn untitled_grid(items: &[(String, RgbImage)], cols: usize) -> RgbImage {
    let PaneLayout {
        gap,
        caption_font,
        caption_h: cap_h,
        ..
    } = PaneLayout::of(items);
    let cols = cols.clamp(1, items.len().max(1));
    let rows = items.len().div_ceil(cols);
    let cell_w = items.iter().map(|(_, i)| i.width()).max().unwrap_or(1);
    let cell_h = items.iter().map(|(_, i)| i.height()).max().unwrap_or(1) + cap_h;
    let mut out = RgbImage::from_pixel(
        cols as u32 * (cell_w + gap) + gap,
        rows as u32 * (cell_h + gap) + gap,
        image::Rgb([255, 255, 255]),
    );
    for (k, (caption, img)) in items.iter().enumerate() {
        let x = gap + (k % cols) as u32 * (cell_w + gap);
        let y = gap + (k / cols) as u32 * (cell_h + gap);
        super::text::text(
            &mut out,
            x as f32,
            y as f32,
            caption_font,
            caption,
            [0, 0, 0],
        );
        image::imageops::replace(&mut out, img, x as i64, (y + cap_h) as i64);
    }
    out
}
