//! GPU textures built from plain images and grids, cached by what they show.
use egui::{ColorImage, Context, TextureHandle, TextureOptions};
use image::RgbImage;

use crate::grid::Grid;
use crate::render::{Colormap, colorize, normalize_range};

pub fn from_rgb(
    ctx: &Context,
    name: &str,
    img: &RgbImage,
    options: TextureOptions,
) -> TextureHandle {
    let size = [img.width() as usize, img.height() as usize];
    ctx.load_texture(name, ColorImage::from_rgb(size, img.as_raw()), options)
}

/// A heatmap texture at grid resolution, `range` mapped to the colormap's ends; the GPU upsamples it.
pub fn heatmap(
    ctx: &Context,
    name: &str,
    map: &Grid,
    range: (f32, f32),
    cmap: Colormap,
    smooth: bool,
) -> TextureHandle {
    let options = if smooth {
        TextureOptions::LINEAR
    } else {
        TextureOptions::NEAREST
    };
    from_rgb(
        ctx,
        name,
        &colorize(&normalize_range(map, range.0, range.1), cmap),
        options,
    )
}

/// A texture and the key of what it shows; rebuilt only when the key changes.
pub struct Cached<K: PartialEq> {
    key: Option<K>,
    tex: Option<TextureHandle>,
}

impl<K: PartialEq> Default for Cached<K> {
    fn default() -> Self {
        Cached {
            key: None,
            tex: None,
        }
    }
}

impl<K: PartialEq> Cached<K> {
    pub fn get(&mut self, key: K, build: impl FnOnce() -> TextureHandle) -> &TextureHandle {
        if self.key.as_ref() != Some(&key) || self.tex.is_none() {
            self.tex = Some(build());
            self.key = Some(key);
        }
        self.tex.as_ref().expect("just built")
    }
    pub fn current(&self) -> Option<&TextureHandle> {
        self.tex.as_ref()
    }
}
