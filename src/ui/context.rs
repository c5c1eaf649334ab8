//! What a view gets each frame instead of the App: the session as the worker last reported it together with
//! the views' own fields ([`ViewState`]), the settings, the texture caches, and the worker's progress. Views
//! import this module and [`super::command`], never the app; what they want done beyond their own fields
//! they ask for with a [`super::command::UiCommand`], which [`super::App::apply`] carries out.
use image::RgbImage;

use super::settings::Settings;
use super::state::ViewState;
use super::textures::Cached;
use crate::analysis::HeadSel;

/// What a heat texture shows: rows generation, layer, head, colormap, smooth, colour range (bits).
pub type MapKey = (
    u64,
    usize,
    HeadSel,
    crate::render::Colormap,
    bool,
    (u32, u32),
);

type RangeKey = (
    u64,
    super::settings::Normalization,
    u32,
    (usize, Option<HeadSel>),
);

/// The app's textures and the caches behind them.
#[derive(Default)]
pub struct Textures {
    pub photo: Cached<u64>,
    pub heat: Cached<MapKey>,
    pub thumbs: Vec<Cached<MapKey>>,
    /// Bumped when a new photo arrives.
    pub photo_generation: u64,
    /// Frames that painted an attention map (the start-up report waits for the first).
    pub map_frames: u64,
    /// Textures of the analysis views, by name, with a hash of what they show.
    store: std::collections::HashMap<String, (u64, egui::TextureHandle)>,
    range_cache: std::cell::RefCell<std::collections::HashMap<RangeKey, (f32, f32)>>,
}

/// One frame's view of the app.
pub struct ViewCtx<'a> {
    pub state: &'a mut ViewState,
    pub settings: &'a mut Settings,
    pub tex: &'a mut Textures,
    /// The worker's long work in progress: (what, done, total).
    pub work: &'a Option<(String, usize, usize)>,
    /// Whether the worker has jobs in hand.
    pub busy: bool,
}

impl ViewCtx<'_> {
    /// A cached texture `name` showing what `key` describes; rebuilt only when the key changes.
    pub fn texture(
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
        match self.tex.store.get(name) {
            Some((k, t)) if *k == h => t.id(),
            _ => {
                let t = crate::ui::textures::from_rgb(ctx, name, &build(), options);
                let id = t.id();
                self.tex.store.insert(name.to_string(), (h, t));
                id
            }
        }
    }

    /// A heat texture of `grid` with `range` mapped to the colormap's ends, smooth or blocky as set;
    /// rebuilt only when `key`, the range or the display settings change.
    pub fn heat_texture(
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
    pub fn photo_texture(&mut self, ctx: &egui::Context) -> Option<egui::TextureId> {
        let photo = self.state.image.clone()?;
        let generation = self.tex.photo_generation;
        Some(
            self.tex
                .photo
                .get(generation, || {
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

    /// The photo's texture, once it has been drawn.
    pub fn photo_tex_id(&self) -> Option<egui::TextureId> {
        self.tex.photo.current().map(|t| t.id())
    }

    /// The photo's (height, width) in pixels.
    pub fn photo_size(&self) -> Option<(f32, f32)> {
        self.state
            .image
            .as_ref()
            .map(|i| (i.height() as f32, i.width() as f32))
    }

    /// The colour-scale range of the map of `layer`/`head` (see [`map_range`]).
    pub fn map_range(&self, layer: usize, head: HeadSel) -> Option<(f32, f32)> {
        map_range(self.state, self.settings, self.tex, layer, head)
    }

    /// The map the central view shows now (see [`shown_map`]).
    pub fn shown_map(&self) -> Option<crate::grid::Grid> {
        shown_map(self.state)
    }

    /// Long work in progress: (what, done, total).
    pub fn progress(&self) -> Option<(String, usize, usize)> {
        self.work.clone()
    }

    /// Whether the worker has jobs in hand.
    pub fn busy(&self) -> bool {
        self.busy
    }
}

/// The map the central view shows now: `[grid_h, grid_w]` attention of the current layer, head and query.
pub fn shown_map(state: &ViewState) -> Option<crate::grid::Grid> {
    state
        .rows
        .as_ref()
        .map(|r| r.patch_map(state.layer, state.head))
}

/// The colour-scale range of the map of `layer`/`head`, following the normalisation setting and
/// percentile clipping.
pub fn map_range(
    state: &ViewState,
    settings: &Settings,
    tex: &Textures,
    layer: usize,
    head: HeadSel,
) -> Option<(f32, f32)> {
    use crate::ui::settings::Normalization;
    let rows = state.rows.as_ref()?;
    let p = settings.clip_percentile;
    let heads = |l: usize| rows.head_sels(l);
    let key = (
        state.rows_generation,
        settings.normalization,
        p.to_bits(),
        match settings.normalization {
            Normalization::PerMap => (layer, Some(head)),
            Normalization::PerLayer => (layer, None),
            Normalization::Global => (0, None),
        },
    );
    if let Some(r) = tex.range_cache.borrow().get(&key) {
        return Some(*r);
    }
    let values: Vec<f32> = match settings.normalization {
        Normalization::PerMap => rows.patch_map(layer, head).data,
        Normalization::PerLayer => heads(layer)
            .flat_map(|h| rows.patch_map(layer, h).data)
            .collect(),
        Normalization::Global => (0..rows.layers)
            .flat_map(|l| heads(l).flat_map(move |h| rows.patch_map(l, h).data))
            .collect(),
    };
    let r = crate::render::percentile_range(values, p);
    let mut cache = tex.range_cache.borrow_mut();
    if cache.len() > 512 {
        cache.clear();
    }
    cache.insert(key, r);
    Some(r)
}
