//! The app: state, commands, and the loop that drains the worker's replies.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use image::RgbImage;

mod analysis;
mod apply;
mod display;
mod replies;
mod view_export;

use super::settings::View;
use super::settings::{STORAGE_KEY, Settings};
use super::textures::Cached;
use super::{
    attention_view, compare_view, controls, distance_view, embeddings_view, head_grid,
    methods_view, model_info, model_view, status_bar, tokens_view,
};
use crate::analysis::{HeadSel, PrefixConvention, QueryRows, RolloutOptions};
use crate::engine::{ClassScore, ModelInfo};
use crate::export::maps::{HeadSpec, LayerSpec, MapExport, Style};
use crate::jobs::{AnalysisRequest, AnalysisResult};
use crate::jobs::{Job, QuerySpec, Worker};
use crate::model::{AttentionStore, DeviceChoice, InputSize, ModelSource, Precision};

/// What the app opens at start.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    pub model: Option<ModelSource>,
    pub image: Option<PathBuf>,
    pub size: InputSize,
    pub device: DeviceChoice,
    pub precision: Precision,
    /// How runs keep the attention (`--attention`).
    pub attention: AttentionStore,
    /// Overrides the persisted export folder (tests use a temporary folder).
    pub export_dir: Option<PathBuf>,
    /// Overrides the persisted view.
    pub view: Option<View>,
    /// Open the last model and image (from the persisted recent files) instead of `model` and `image`.
    pub restore_last: bool,
    /// The settings file (None: settings come from eframe's storage only; tests run without one).
    pub settings_file: Option<PathBuf>,
    /// `--download`: `model` is a hub repo id to fetch into the local cache before it opens.
    pub download: bool,
}

/// Everything views emit; [`App::apply`] is the only place that acts on them.
#[derive(Debug, Clone, PartialEq)]
pub enum UiCommand {
    SetLayer(usize),
    SetHead(HeadSel),
    SetQuery(QuerySpec),
    LoadImage(PathBuf),
    LoadModel(ModelSource),
    /// Download a Hugging Face repo id into the local hub cache, then open it.
    DownloadModel(String),
    SetSize(InputSize),
    SetDevice(DeviceChoice),
    SetPrecision(Precision),
    SetAttentionStore(AttentionStore),
    OpenDialog(DialogKind),
    ExportMap,
    ExportHeadGrid,
    /// Every layer (current head) as files plus the L × H mosaic.
    ExportAllLayers,
    /// The current layer and head for every image of a folder.
    ExportFolder(PathBuf),
    DismissError,
    SetView(View),
    /// Show layer and head in the Attention view (a click in the distance plot).
    OpenHead(usize, usize),
    /// Step the layer (−1 / +1) or the head (cycling mean, h0, h1, …).
    StepLayer(i64),
    StepHead(i64),
    ToggleOverlay,
    /// Stop the long work in progress (flow, a folder).
    CancelWork,
    /// Distance and entropy over the images of a folder.
    RunFolderStats(PathBuf),
    /// Write the distance plot (PNG) and table (CSV) shown in the Distance view.
    ExportDistance,
    /// The answer to the overwrite prompt.
    ResolveOverwrite(super::overwrite::OverwriteChoice),
    /// The Methods or Compare view as one PNG.
    ExportView,
    /// The Tokens view's prefix-mass plot and table.
    ExportPrefixMass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    Image,
    Model,
}

/// Runtime state (not persisted).
#[derive(Default)]
pub struct ViewState {
    pub model: Option<ModelInfo>,
    pub image_path: Option<PathBuf>,
    pub image: Option<Arc<RgbImage>>,
    /// Attention rows of the current query (every layer and head).
    pub rows: Option<QueryRows>,
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
    pub error: Option<String>,
    /// What the shown error is about: it stays until dismissed or until that same thing succeeds.
    pub error_subject: ErrorSubject,
    /// Jobs sent whose failure would be about a model or an image: generation → subject.
    loads: Vec<(u64, ErrorSubject)>,
    pub notice: Option<String>,
    /// What decoding did to the shown image (EXIF rotation, alpha compositing, …).
    pub image_notes: Vec<String>,
    pub last_export: Vec<PathBuf>,
    /// Text fields.
    pub image_field: String,
    pub model_field: String,
    pub size_field: String,
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
    /// The latest analysis of each kind, with the epoch and request it answers.
    pub results: Vec<(u64, AnalysisRequest, AnalysisResult)>,
    /// Analyses sent and not answered: job generation → (epoch, request).
    pending: Vec<(u64, u64, AnalysisRequest)>,
    /// Opacity before the overlay was toggled off.
    hidden_opacity: Option<f32>,
    /// Analyses that failed at an epoch (not retried until something changes).
    failed: Vec<(u64, AnalysisRequest)>,
    /// An export that would replace these files, waiting for the user's answer.
    pub overwrite_prompt: Option<(MapExport, Vec<String>)>,
}

/// The Methods view's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodParams {
    pub opts: RolloutOptions,
    pub target: String,
    pub flow: bool,
}

impl Default for MethodParams {
    fn default() -> Self {
        MethodParams {
            opts: RolloutOptions::default(),
            target: "top".into(),
            flow: false,
        }
    }
}

impl ViewState {
    /// The file stem of the shown image (`image` when none), for export names.
    pub fn image_stem(&self) -> String {
        self.image_path
            .as_deref()
            .and_then(Path::file_stem)
            .map(|x| x.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into())
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
    }

    /// Clear the error when it is about `subject` (a model or an image that has now loaded).
    pub(super) fn clear_error(&mut self, subject: ErrorSubject) {
        if self.error_subject == subject {
            self.error = None;
        }
    }

    /// Note files just written.
    fn exported(&mut self, files: Vec<PathBuf>) {
        self.notice = Some(format!(
            "exported {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        self.last_export = files;
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

pub struct App {
    pub settings: Settings,
    pub state: ViewState,
    worker: Worker,
    dialogs: (
        Sender<(DialogKind, Option<PathBuf>, Duration)>,
        Receiver<(DialogKind, Option<PathBuf>, Duration)>,
    ),
    dialog_open: bool,
    pub(super) photo_tex: Cached<u64>,
    pub(super) heat_tex: Cached<MapKey>,
    /// Frames that painted an attention map (the start-up report waits for the first).
    pub(super) map_frames: u64,
    startup_report: Option<super::startup_report::Report>,
    pub(super) thumbs: Vec<Cached<MapKey>>,
    pub(super) photo_generation: u64,
    query_generation: u64,
    /// Where the settings are saved (atomically, with a backup), when anywhere.
    settings_file: Option<PathBuf>,
    /// Textures of the analysis views, by name, with a hash of what they show.
    pub(super) store: std::collections::HashMap<String, (u64, egui::TextureHandle)>,
    range_cache: std::cell::RefCell<std::collections::HashMap<RangeKey, (f32, f32)>>,
    /// Instrumentation: the CPU time of the last frames' `ui` (layout, textures, commands), in ms,
    /// newest last (at most 1000).
    pub frame_ms: std::collections::VecDeque<f32>,
}

/// An export of the UI thread that failed, in words.
struct ExportFailure(String);

impl From<crate::export::ExportError> for ExportFailure {
    fn from(e: crate::export::ExportError) -> Self {
        ExportFailure(e.to_string())
    }
}

/// What an error is about, so that only the same thing's success clears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorSubject {
    Model,
    Image,
    #[default]
    Other,
}

/// What a heat texture shows: rows generation, layer, head, colormap, smooth, colour range (bits).
pub(super) type MapKey = (
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

impl App {
    pub fn new(cc: &eframe::CreationContext<'_>, start: StartOptions) -> App {
        let (from_file, settings_notice) = match &start.settings_file {
            Some(p) => super::settings::load_settings(p),
            None => (None, None),
        };
        let mut settings: Settings = from_file
            .or_else(|| cc.storage.and_then(|s| eframe::get_value(s, STORAGE_KEY)))
            .unwrap_or_default();
        if let Some(dir) = &start.export_dir {
            settings.export_dir = dir.clone();
        }
        if let Some(v) = start.view {
            settings.view = v;
        }
        let ctx = cc.egui_ctx.clone();
        let worker = Worker::spawn(move || ctx.request_repaint());
        let mut app = App {
            state: ViewState {
                size: start.size,
                device: start.device,
                precision: start.precision,
                size_field: start.size.to_string(),
                attention: start.attention,
                export_field: settings.export_dir.display().to_string(),
                notice: settings_notice,
                ..Default::default()
            },
            settings,
            settings_file: start.settings_file.clone(),
            worker,
            dialogs: channel(),
            dialog_open: false,
            photo_tex: Cached::default(),
            heat_tex: Cached::default(),
            map_frames: 0,
            startup_report: super::startup_report::asked(),
            thumbs: Vec::new(),
            photo_generation: 0,
            query_generation: 0,
            store: Default::default(),
            range_cache: Default::default(),
            frame_ms: Default::default(),
        };
        app.worker.send(Job::SetStore(start.attention));
        app.worker.send(Job::SetSize(start.size));
        app.reopen(&start);
        app
    }

    /// The photo's texture, once it has been drawn.
    pub(super) fn photo_tex_id(&self) -> Option<egui::TextureId> {
        self.photo_tex.current().map(|t| t.id())
    }

    /// With `VITSCOPE_STARTUP_REPORT`: once a frame that painted a map has been shown, say when.
    fn report_startup(&mut self, ctx: &egui::Context) {
        use super::startup_report::{Report, process_age};
        let Some(report) = self.startup_report else {
            return;
        };
        if self.map_frames == 0 {
            return;
        }
        let age = process_age().map_or(-1.0, |a| a.as_secs_f64() * 1e3);
        eprintln!(
            "startup: first map on screen {age:.0} ms after the process started (forward {:.0} ms)",
            self.state.forward_ms.unwrap_or(0.0)
        );
        self.startup_report = None;
        if report == Report::SayAndExit {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    /// Open the model and image of `start` — or, with `restore_last`, the last ones that still exist.
    pub fn reopen(&mut self, start: &StartOptions) {
        let (mut model, mut image) = (start.model.clone(), start.image.clone());
        if start.restore_last {
            // Nothing was asked for on the command line: reopen the last model and image that still exist.
            let existing = |list: &[PathBuf]| list.first().filter(|p| p.exists()).cloned();
            if let Some(m) = existing(&self.settings.recent_models) {
                model = Some(ModelSource::Path(m));
            }
            if let Some(i) = existing(&self.settings.recent_images) {
                image = Some(i);
            }
        }
        match model {
            Some(ModelSource::Path(p)) if start.download => {
                self.apply(UiCommand::DownloadModel(p.display().to_string()))
            }
            Some(m) => self.apply(UiCommand::LoadModel(m)),
            None => {}
        }
        if let Some(i) = image {
            self.apply(UiCommand::LoadImage(i));
        }
    }

    /// The map the central view shows now: `[grid_h, grid_w]` attention of the current layer, head and query.
    pub fn shown_map(&self) -> Option<crate::grid::Grid> {
        let s = &self.state;
        s.rows.as_ref().map(|r| r.patch_map(s.layer, s.head))
    }

    /// Long work in progress: (what, done, total).
    pub fn progress(&self) -> Option<(String, usize, usize)> {
        self.worker.progress()
    }

    /// Work queued on the worker and not answered yet.
    pub fn busy(&self) -> bool {
        self.worker.in_flight() > 0
    }
}

impl eframe::App for App {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let frame_start = std::time::Instant::now();
        self.report_startup(ui.ctx());
        let mut cmds = Vec::new();
        egui::Panel::bottom("status").show(ui, |ui| status_bar::ui(self, ui, &mut cmds));
        egui::Panel::left("controls")
            .resizable(true)
            .default_size(330.0)
            .size_range(260.0..=480.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    controls::ui(self, ui, &mut cmds);
                    ui.separator();
                    model_info::ui(self, ui);
                });
            });
        egui::Panel::right("heads")
            .resizable(true)
            .default_size(280.0)
            .size_range(180.0..=520.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| head_grid::ui(self, ui, &mut cmds));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal(|ui| {
                for v in View::ALL {
                    if ui
                        .selectable_label(self.settings.view == v, v.label())
                        .clicked()
                    {
                        cmds.push(UiCommand::SetView(v));
                    }
                }
                ui.separator();
                ui.small("keys: Left/Right layer · Up/Down head · O overlay · E export")
                    .on_hover_text("Keyboard shortcuts (when no text field has focus)");
            });
            ui.separator();
            match self.settings.view {
                View::Attention => attention_view::ui(self, ui, &mut cmds),
                View::Model => model_view::ui(self, ui, &mut cmds),
                View::Methods => methods_view::ui(self, ui, &mut cmds),
                View::Compare => compare_view::ui(self, ui, &mut cmds),
                View::Distance => distance_view::ui(self, ui, &mut cmds),
                View::Tokens => tokens_view::ui(self, ui, &mut cmds),
                View::Embeddings => embeddings_view::ui(self, ui, &mut cmds),
            }
        });
        super::overwrite::ui(self, ui, &mut cmds);
        if self.state.overwrite_prompt.is_none() && ui.ctx().memory(|m| m.focused().is_none()) {
            ui.ctx().input(|i| {
                for (key, cmd) in [
                    (egui::Key::ArrowLeft, UiCommand::StepLayer(-1)),
                    (egui::Key::ArrowRight, UiCommand::StepLayer(1)),
                    (egui::Key::ArrowUp, UiCommand::StepHead(-1)),
                    (egui::Key::ArrowDown, UiCommand::StepHead(1)),
                    (egui::Key::O, UiCommand::ToggleOverlay),
                    (egui::Key::E, UiCommand::ExportMap),
                ] {
                    if i.key_pressed(key) {
                        cmds.push(cmd);
                    }
                }
            });
        }
        for c in cmds {
            self.apply(c);
        }
        self.request_analysis();
        if self.busy() {
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }
        if self.frame_ms.len() == 1000 {
            self.frame_ms.pop_front();
        }
        self.frame_ms
            .push_back(frame_start.elapsed().as_secs_f32() * 1e3);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.settings);
        if let Some(p) = &self.settings_file
            && let Err(e) = super::settings::save_settings(p, &self.settings)
        {
            self.state.notice = Some(format!("The settings could not be saved: {e}"));
        }
    }
}
