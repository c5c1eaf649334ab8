//! Compare panes of another image or another model: the worker runs the other image through the current
//! model (or the current image through another model) at the current input size, and answers the rows
//! of the query mapped onto that run's layout. Up to [`KEEP_RUNS`] runs and [`KEEP_MODELS`] models are
//! kept, so moving the query answers without re-running anything.
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use image::RgbImage;

use super::{AnalysisResult, QuerySpec, State};
use crate::analysis::QueryRows;
use crate::engine::{LoadedModel, Run, forward, load_model};
use crate::model::{InputSize, ModelSource, TokenLayout};

/// Where a compare pane's maps come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PaneSource {
    /// The loaded image through the loaded model.
    #[default]
    Current,
    /// Another image through the loaded model.
    Image(PathBuf),
    /// The loaded image through another model.
    Model(ModelSource),
}

impl PaneSource {
    /// A short name: `coffee.png`, `model default`, `model vit_small`.
    pub fn label(&self) -> String {
        let name = |p: &std::path::Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string())
        };
        match self {
            PaneSource::Current => "this image and model".into(),
            PaneSource::Image(p) => format!("image {}", name(p)),
            PaneSource::Model(ModelSource::Default) => "model built-in DINOv2 ViT-S/14".into(),
            PaneSource::Model(ModelSource::Path(p)) => {
                format!("model {}", crate::engine::model_name(p))
            }
        }
    }
}

pub const KEEP_RUNS: usize = 3;
pub const KEEP_MODELS: usize = 2;

/// (image path, model, input size) of a kept run.
type RunKey = (PathBuf, String, InputSize);

#[derive(Default)]
pub(super) struct Others {
    models: Vec<(ModelSource, LoadedModel)>,
    runs: Vec<(RunKey, Run, Arc<RgbImage>)>,
}

/// The query `q` of layout `from` in layout `to`: a patch keeps its relative position (the cell under
/// the same point of the image); a prefix token stays itself where `to` has it; else `to`'s default.
pub fn map_query(q: QuerySpec, from: &TokenLayout, to: &TokenLayout) -> usize {
    let token = match q {
        QuerySpec::Patch(r, c) => {
            let scale = |i: usize, n_from: usize, n_to: usize| {
                (((i as f64 + 0.5) / n_from.max(1) as f64 * n_to as f64) as usize)
                    .min(n_to.saturating_sub(1))
            };
            to.token_of_patch(
                scale(r, from.grid_h, to.grid_h),
                scale(c, from.grid_w, to.grid_w),
            )
        }
        q => q.token(to),
    };
    token.unwrap_or_else(|| to.default_query())
}

impl State {
    /// The rows of the current query for a compare pane of another image or model.
    pub(super) fn other(&mut self, source: &PaneSource) -> anyhow::Result<AnalysisResult> {
        let current = self.engine.layout().context("no image loaded")?.clone();
        let (cur_path, cur_img) = self.engine.image.as_ref().context("no image loaded")?;
        let cur_model = self.engine.model.as_ref().context("no model loaded")?;
        let size = self.engine.size;
        let (image_path, model_key) = match source {
            PaneSource::Current => (cur_path.clone(), cur_model.info.path.display().to_string()),
            PaneSource::Image(p) => (p.clone(), cur_model.info.path.display().to_string()),
            PaneSource::Model(m) => (cur_path.clone(), m.to_string()),
        };
        let key: RunKey = (image_path.clone(), model_key, size);
        let o = &mut self.others;
        if let Some(i) = o.runs.iter().position(|(k, _, _)| *k == key) {
            let kept = o.runs.remove(i);
            o.runs.push(kept);
        } else {
            let img = match source {
                PaneSource::Image(p) => Arc::new(crate::model::preprocess::load_image(p)?.rgb),
                // The current photo is copied only when a new run is made from it.
                _ => Arc::new(cur_img.clone()),
            };
            let run = match source {
                PaneSource::Model(m) => {
                    if let Some(i) = o.models.iter().position(|(s, _)| s == m) {
                        let kept = o.models.remove(i);
                        o.models.push(kept);
                    } else {
                        let loaded = load_model(m, self.device, self.precision)
                            .with_context(|| format!("cannot load model {m}"))?;
                        o.models.push((m.clone(), loaded));
                        if o.models.len() > KEEP_MODELS {
                            o.models.remove(0);
                        }
                    }
                    forward(&o.models.last().expect("just kept").1.vit, &img, size)?
                }
                _ => forward(&cur_model.vit, &img, size)?,
            };
            o.runs.push((key, run, img));
            if o.runs.len() > KEEP_RUNS {
                o.runs.remove(0);
            }
        }
        let (_, run, photo) = o.runs.last().expect("just kept");
        let layout = &run.capture.layout;
        let token = map_query(self.query, &current, layout);
        let rows = QueryRows::from_attentions(run.capture.source(), layout, token)?;
        Ok(AnalysisResult::Other {
            rows,
            photo: photo.clone(),
            input_hw: run.capture.input_hw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PrefixToken;

    #[test]
    fn models_are_named_by_what_they_are_not_by_their_generic_file() {
        use crate::engine::model_name;
        use std::path::Path;
        assert_eq!(
            model_name(Path::new(
                "/c/hub/models--facebook--dinov2-small/snapshots/abc/model.safetensors"
            )),
            "facebook/dinov2-small"
        );
        assert_eq!(
            model_name(Path::new("/m/deit-tiny/model.safetensors")),
            "deit-tiny"
        );
        assert_eq!(model_name(Path::new("/m/deit-tiny")), "deit-tiny");
        assert_eq!(
            model_name(Path::new("/m/vit_b16_in21k.safetensors")),
            "vit_b16_in21k.safetensors"
        );
    }

    #[test]
    fn a_patch_query_keeps_its_place_in_another_grid() {
        let layout = |prefix, grid_h, grid_w| TokenLayout {
            prefix,
            grid_h,
            grid_w,
            patch_size: 14,
        };
        let from = layout(vec![PrefixToken::Cls], 4, 6);
        let to = layout(vec![PrefixToken::Cls, PrefixToken::Register(0)], 8, 3);
        // row 1 of 4 (centre 0.375) -> row 3 of 8; col 5 of 6 (centre 0.917) -> col 2 of 3
        assert_eq!(map_query(QuerySpec::Patch(1, 5), &from, &to), 2 + 3 * 3 + 2);
        assert_eq!(map_query(QuerySpec::Cls, &from, &to), 0);
        assert_eq!(map_query(QuerySpec::Prefix(1), &from, &to), 1);
        let no_cls = layout(vec![], 5, 5);
        assert_eq!(
            map_query(QuerySpec::Cls, &from, &no_cls),
            no_cls.default_query()
        );
    }
}
