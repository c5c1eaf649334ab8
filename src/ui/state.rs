//! The session as the worker last reported it, and the views' own fields: what views read and show.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;

use crate::analysis::{HeadSel, PrefixConvention, QueryRows, RolloutOptions};
use crate::engine::{ClassScore, ModelInfo};
use crate::export::maps::MapExport;
use crate::jobs::{AnalysisRequest, AnalysisResult, QuerySpec};
use crate::model::{AttentionStore, DeviceChoice, InputSize, Precision};

/// Runtime state (not persisted).
#[derive(Default)]
pub struct ViewState {
    pub model: Option<ModelInfo>,
    pub image_path: Option<PathBuf>,
    pub image: Option<Arc<RgbImage>>,
    /// Attention rows of the current query (every layer and head).
    pub rows: Option<QueryRows>,
    /// The Model view's hover preview: the query asked for, and its rows once they came (the query itself
    /// stays until a click commits it).
    pub preview_asked: Option<QuerySpec>,
    /// The help overlay (F1 or ?) is open.
    pub help: bool,
    /// The Attention view's zoom (1 = the whole image) and the image point (0..1) at its top-left corner.
    pub zoom: f32,
    pub pan: egui::Vec2,
    pub preview: Option<(QuerySpec, QueryRows)>,
    pub rows_generation: u64,
    pub input_hw: Option<(usize, usize)>,
    pub forward_ms: Option<f64>,
    /// How the current run keeps its attention (set from the worker's answer), and the bytes that takes.
    pub attention: AttentionStore,
    pub attention_bytes: Option<u64>,
    pub layer: usize,
    pub head: HeadSel,
    pub query: QuerySpec,
    pub size: InputSize,
    pub device: DeviceChoice,
    pub precision: Precision,
    /// The classifier's top classes for the current image (empty without a head).
    pub classes: Vec<ClassScore>,
    /// The logit lens of the current run (empty where it is not defined).
    pub lens: Vec<crate::methods::lens::LensLayer>,
    pub error: Option<String>,
    /// What the shown error is about: it stays until dismissed or until that same thing succeeds.
    pub error_subject: ErrorSubject,
    /// What the error advises, as buttons: a label and the commands it runs.
    pub error_actions: Vec<(String, Vec<super::command::UiCommand>)>,
    /// Jobs sent whose failure would be about a model or an image: generation → subject.
    pub(in crate::ui) loads: Vec<(u64, ErrorSubject)>,
    pub notice: Option<String>,
    /// What decoding did to the shown image (EXIF rotation, alpha compositing, …).
    pub image_notes: Vec<String>,
    pub last_export: Vec<PathBuf>,
    /// Text fields.
    pub image_field: String,
    pub model_field: String,
    pub size_field: String,
    /// The input size last asked for (what "Use queries and keys" re-asks at).
    pub size_asked: InputSize,
    /// The model path or hub id last asked for (what "Download from the hub" fetches after a refusal).
    pub model_asked: String,
    pub export_field: String,
    /// Export: the folder for batch export.
    pub batch_field: String,
    /// Compare view: what each pane shows, and whether they share one colour scale.
    pub compare: Vec<super::compare_view::Pane>,
    pub compare_shared_scale: bool,
    /// Compare view: where each pane's maps come from (by pane index; missing = the current ones).
    pub compare_sources: Vec<crate::jobs::PaneSource>,
    /// Distance view: statistics over a folder instead of the current image.
    pub distance_folder: bool,
    pub folder_field: String,
    /// The Methods view's target field (applied with a button or Enter).
    pub target_field: String,
    /// Bumped by every new forward pass or query: analyses made before are stale.
    pub analysis_epoch: u64,
    pub methods: MethodParams,
    pub stats_convention: PrefixConvention,
    pub pos_input_grid: bool,
    /// The patch whose position-similarity map the Embeddings view shows large (a click pins it).
    pub pos_pick: Option<(usize, usize)>,
    /// The latest analysis of each kind, with the epoch and request it answers.
    pub results: Vec<(u64, AnalysisRequest, AnalysisResult)>,
    /// Analyses sent and not answered: job generation → (epoch, request).
    pub(in crate::ui) pending: Vec<(u64, u64, AnalysisRequest)>,
    /// Opacity before the overlay was toggled off.
    pub(in crate::ui) hidden_opacity: Option<f32>,
    /// Analyses that failed at an epoch, with the reason (not retried until something changes).
    pub(in crate::ui) failed: Vec<(u64, AnalysisRequest, String)>,
    /// An export that would replace these files, waiting for the user's answer.
    pub overwrite_prompt: Option<(MapExport, Vec<String>)>,
    /// The intervention as the user has asked for it (ahead of the worker's answer while one is on its way).
    pub intervention: crate::model::Intervention,
    /// The generation of the last intervention sent: answers to earlier ones do not overwrite the edit.
    pub(in crate::ui) intervention_sent: u64,
    /// What the applied intervention changed (the worker's answer), none without one.
    pub change: Option<crate::jobs::Change>,
    /// Clicks on the map occlude patches instead of picking the query.
    pub paint: bool,
    /// The occlusion brush: a square of this many patches per side.
    pub brush: usize,
    /// Clicks on the Model view's tiles ablate heads instead of opening them.
    pub ablate_mode: bool,
}

/// The Methods view's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodParams {
    pub opts: RolloutOptions,
    pub target: String,
    pub flow: bool,
    /// Deletion and insertion curves asked for (they re-run the model 2·(steps + 1) times per method).
    pub faithfulness: bool,
    pub steps: usize,
    pub fill: crate::model::Fill,
}

impl Default for MethodParams {
    fn default() -> Self {
        MethodParams {
            opts: RolloutOptions::default(),
            target: "top".into(),
            flow: false,
            faithfulness: false,
            // 5 % of the patches per step, as the command line
            steps: 20,
            fill: crate::model::Fill::Mean,
        }
    }
}

impl ViewState {
    /// What is loading, in words ("Loading the model …", "Loading chelsea.png…"), while a load is on its way.
    pub fn loading(&self) -> Option<String> {
        let on_way = |k: ErrorSubject| self.loads.iter().any(|(_, s)| *s == k);
        let name = |field: &str, none: &str| {
            let f = field.trim();
            if f.is_empty() {
                none.to_string()
            } else {
                Path::new(f)
                    .file_name()
                    .map_or(f.to_string(), |n| n.to_string_lossy().into_owned())
            }
        };
        if on_way(ErrorSubject::Model) {
            Some(format!(
                "Loading the model {}…",
                name(&self.model_field, "(built-in DINOv2 ViT-S/14)")
            ))
        } else if on_way(ErrorSubject::Image) {
            Some(format!("Loading {}…", name(&self.image_field, "the image")))
        } else {
            None
        }
    }

    /// The file stem of the shown image (`image` when none).
    pub fn image_stem(&self) -> String {
        self.image_path
            .as_deref()
            .and_then(Path::file_stem)
            .map(|x| x.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into())
    }

    /// The stem of export names: the shown image's and the model's (`chelsea_dinov2-vit-s-14`).
    pub fn export_stem(&self) -> String {
        crate::export::export_stem(&self.image_stem(), &self.model_name())
    }

    /// The loaded model's name ("" when none), for provenance.
    pub fn model_name(&self) -> String {
        self.model
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default()
    }

    /// Show an error that is about nothing loaded (an export, a request).
    pub fn fail(&mut self, msg: String) {
        self.error = Some(msg);
        self.error_subject = ErrorSubject::Other;
        self.error_actions.clear();
    }

    /// Clear the error when it is about `subject` (a model or an image that has now loaded).
    pub(in crate::ui) fn clear_error(&mut self, subject: ErrorSubject) {
        if self.error_subject == subject {
            self.error = None;
            self.error_actions.clear();
        }
    }

    /// Note files just written.
    pub(in crate::ui) fn exported(&mut self, files: Vec<PathBuf>) {
        // "Exported N files · Open folder" under the export buttons says it; the notice is for other news
        self.notice = None;
        self.last_export = files;
    }

    /// Why `like` failed for the current image, if it did (a refusal, a bad target, a cancel).
    pub fn failure(&self, like: &AnalysisRequest) -> Option<&str> {
        self.failed
            .iter()
            .find(|(e, r, _)| r == like && (!like.per_image() || *e == self.analysis_epoch))
            .map(|(_, _, why)| why.as_str())
    }

    /// The latest result for a request of the same kind as `like`, and whether it answers `like` now.
    pub fn result(&self, like: &AnalysisRequest) -> Option<(&AnalysisResult, bool)> {
        self.results
            .iter()
            .find(|(_, r, _)| r.same_slot(like))
            .map(|(epoch, r, res)| {
                (
                    res,
                    r == like && (!like.per_image() || *epoch == self.analysis_epoch),
                )
            })
    }
}

/// What an error is about, so that only the same thing's success clears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ErrorSubject {
    Model,
    Image,
    /// An intervention the worker could not apply: the edit goes back to the applied one.
    Intervention,
    /// An input size or attention storage the worker could not run at: the field goes back to the running one.
    Size,
    #[default]
    Other,
}
