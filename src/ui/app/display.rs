//! How maps look: textures (cached by what they show) and colour-scale ranges.
use image::RgbImage;

use super::App;
use crate::analysis::HeadSel;

impl App {
    /// A cached texture `name` showing what `key` describes; rebuilt only when the key changes.
    pub(in crate::ui) fn texture(
        &mut self,
        ctx: &egui::Context,
        name: &str,
        key: impl std::hash::Hash,
        build: impl FnOnce() -> RgbImage,
        options: egui::TextureOptions,
    ) -> egui::TextureId {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one(key);
        match self.store.get(name) {
            Some((k, t)) if *k == h => t.id(),
            _ => {
                let t = crate::ui::textures::from_rgb(ctx, name, &build(), options);
                let id = t.id();
                self.store.insert(name.to_string(), (h, t));
                id
            }
        }
    }

    /// A heat texture of `grid` with `range` mapped to the colormap's ends, smooth or blocky as set;
    /// rebuilt only when `key`, the range or the display settings change.
    pub(in crate::ui) fn heat_texture(
        &mut self,
        ctx: &egui::Context,
        name: &str,
        key: impl std::hash::Hash,
        grid: &crate::grid::Grid,
        range: (f32, f32),
    ) -> egui::TextureId {
        let (cmap, smooth) = (self.settings.colormap, self.settings.smooth);
        let options = if smooth {
            egui::TextureOptions::LINEAR
        } else {
            egui::TextureOptions::NEAREST
        };
        self.texture(
            ctx,
            name,
            (
                key,
                range.0.to_bits(),
                range.1.to_bits(),
                cmap.name(),
                smooth,
            ),
            || {
                crate::render::colorize(
                    &crate::render::normalize_range(grid, range.0, range.1),
                    cmap,
                )
            },
            options,
        )
    }

    /// The photo's texture, made now if no view has drawn it yet.
    pub(in crate::ui) fn photo_texture(&mut self, ctx: &egui::Context) -> Option<egui::TextureId> {
        let photo = self.state.image.clone()?;
        Some(
            self.photo_tex
                .get(self.photo_generation, || {
                    crate::ui::textures::from_rgb(
                        ctx,
                        "photo",
                        &photo,
                        egui::TextureOptions::LINEAR,
                    )
                })
                .id(),
        )
    }

    /// The photo's (height, width) in pixels.
    pub(in crate::ui) fn photo_size(&self) -> Option<(f32, f32)> {
        self.state
            .image
            .as_ref()
            .map(|i| (i.height() as f32, i.width() as f32))
    }

    /// The colour-scale range of the map of `layer`/`head`, following the normalisation setting and
    /// percentile clipping.
    pub fn map_range(&self, layer: usize, head: HeadSel) -> Option<(f32, f32)> {
        use crate::ui::settings::Normalization;
        let rows = self.state.rows.as_ref()?;
        let p = self.settings.clip_percentile;
        let heads = || std::iter::once(HeadSel::Mean).chain((0..rows.heads).map(HeadSel::Head));
        let key = (
            self.state.rows_generation,
            self.settings.normalization,
            p.to_bits(),
            match self.settings.normalization {
                Normalization::PerMap => (layer, Some(head)),
                Normalization::PerLayer => (layer, None),
                Normalization::Global => (0, None),
            },
        );
        if let Some(r) = self.range_cache.borrow().get(&key) {
            return Some(*r);
        }
        let values: Vec<f32> = match self.settings.normalization {
            Normalization::PerMap => rows.patch_map(layer, head).data,
            Normalization::PerLayer => heads()
                .flat_map(|h| rows.patch_map(layer, h).data)
                .collect(),
            Normalization::Global => (0..rows.layers)
                .flat_map(|l| heads().flat_map(move |h| rows.patch_map(l, h).data))
                .collect(),
        };
        let r = crate::render::percentile_range(values, p);
        let mut cache = self.range_cache.borrow_mut();
        if cache.len() > 512 {
            cache.clear();
        }
        cache.insert(key, r);
        Some(r)
    }
}
