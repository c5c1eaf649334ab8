//! The app: state, commands, and the loop that drains the worker's replies.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use image::RgbImage;

use super::settings::{STORAGE_KEY, Settings};
use super::textures::Cached;
use super::{attention_view, controls, head_grid, model_info, status_bar};
use crate::analysis::{HeadSel, QueryRows};
use crate::engine::{ClassScore, ModelInfo};
use crate::export::maps::{HeadSpec, LayerSpec, MapExport, Style};
use crate::jobs::{Job, Outcome, QuerySpec, Worker};
use crate::model::{DeviceChoice, InputSize, ModelSource, Precision, PrefixToken};

/// What the app opens at start.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    pub model: Option<ModelSource>,
    pub image: Option<PathBuf>,
    pub size: InputSize,
    pub device: DeviceChoice,
    pub precision: Precision,
    /// Overrides the persisted export folder (tests use a temporary folder).
    pub export_dir: Option<PathBuf>,
}

/// Everything views emit; [`App::apply`] is the only place that acts on them.
#[derive(Debug, Clone, PartialEq)]
pub enum UiCommand {
    SetLayer(usize),
    SetHead(HeadSel),
    SetQuery(QuerySpec),
    LoadImage(PathBuf),
    LoadModel(ModelSource),
    SetSize(InputSize),
    SetDevice(DeviceChoice),
    SetPrecision(Precision),
    OpenDialog(DialogKind),
    ExportMap,
    ExportHeadGrid,
    DismissError,
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
    pub layer: usize,
    pub head: HeadSel,
    pub query: QuerySpec,
    pub size: InputSize,
    pub device: DeviceChoice,
    pub precision: Precision,
    /// The classifier's top classes for the current image (empty without a head).
    pub classes: Vec<ClassScore>,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub last_export: Vec<PathBuf>,
    /// Text fields.
    pub image_field: String,
    pub model_field: String,
    pub size_field: String,
    pub export_field: String,
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
    pub(super) heat_tex: Cached<(u64, usize, HeadSel, crate::render::Colormap, bool)>,
    pub(super) thumbs: Vec<Cached<(u64, usize, HeadSel, crate::render::Colormap, bool)>>,
    pub(super) photo_generation: u64,
    query_generation: u64,
}

impl App {
    pub fn new(cc: &eframe::CreationContext<'_>, start: StartOptions) -> App {
        let mut settings: Settings = cc
            .storage
            .and_then(|s| eframe::get_value(s, STORAGE_KEY))
            .unwrap_or_default();
        if let Some(dir) = &start.export_dir {
            settings.export_dir = dir.clone();
        }
        let ctx = cc.egui_ctx.clone();
        let worker = Worker::spawn(move || ctx.request_repaint());
        let mut app = App {
            state: ViewState {
                size: start.size,
                device: start.device,
                precision: start.precision,
                size_field: start.size.to_string(),
                export_field: settings.export_dir.display().to_string(),
                ..Default::default()
            },
            settings,
            worker,
            dialogs: channel(),
            dialog_open: false,
            photo_tex: Cached::default(),
            heat_tex: Cached::default(),
            thumbs: Vec::new(),
            photo_generation: 0,
            query_generation: 0,
        };
        app.worker.send(Job::SetSize(start.size));
        if let Some(m) = start.model {
            app.apply(UiCommand::LoadModel(m));
        }
        if let Some(i) = start.image {
            app.apply(UiCommand::LoadImage(i));
        }
        app
    }

    /// The photo's texture, once it has been drawn.
    pub(super) fn photo_tex_id(&self) -> Option<egui::TextureId> {
        self.photo_tex.current().map(|t| t.id())
    }

    /// The map the central view shows now: `[grid_h, grid_w]` attention of the current layer, head and query.
    pub fn shown_map(&self) -> Option<crate::grid::Grid> {
        let s = &self.state;
        s.rows.as_ref().map(|r| r.patch_map(s.layer, s.head))
    }

    /// Work queued on the worker and not answered yet.
    pub fn busy(&self) -> bool {
        self.worker.in_flight() > 0
    }

    /// The one place that changes state in answer to the user.
    pub fn apply(&mut self, cmd: UiCommand) {
        let s = &mut self.state;
        match cmd {
            UiCommand::SetLayer(l) => {
                if let Some(rows) = &s.rows {
                    s.layer = l.min(rows.layers.saturating_sub(1));
                }
            }
            UiCommand::SetHead(h) => s.head = h,
            UiCommand::SetQuery(q) => {
                s.query = q;
                self.query_generation = self.worker.send(Job::SetQuery(q));
            }
            UiCommand::LoadImage(p) => {
                s.image_field = p.display().to_string();
                self.worker.send(Job::LoadImage(p));
            }
            UiCommand::LoadModel(m) => {
                if let ModelSource::Path(p) = &m {
                    s.model_field = p.display().to_string();
                }
                self.worker.send(Job::LoadModel {
                    source: m,
                    device: s.device,
                    precision: s.precision,
                });
            }
            UiCommand::SetSize(size) => {
                s.size = size;
                self.worker.send(Job::SetSize(size));
            }
            UiCommand::SetDevice(d) => s.device = d,
            UiCommand::SetPrecision(p) => s.precision = p,
            UiCommand::OpenDialog(kind) => self.open_dialog(kind),
            UiCommand::ExportMap | UiCommand::ExportHeadGrid => {
                let heads = if cmd == UiCommand::ExportMap {
                    HeadSpec::One(s.head)
                } else {
                    HeadSpec::GridOnly
                };
                let req = MapExport {
                    out_dir: PathBuf::from(&s.export_field),
                    stem: s
                        .image_path
                        .as_deref()
                        .and_then(Path::file_stem)
                        .map(|x| x.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "image".into()),
                    layers: LayerSpec::One(s.layer),
                    heads,
                    colormap: self.settings.colormap,
                    style: Style::Overlay {
                        opacity: self.settings.opacity,
                    },
                    overwrite: false,
                    model_name: s.model.as_ref().map(|m| m.name.clone()).unwrap_or_default(),
                    image_name: s
                        .image_path
                        .as_deref()
                        .and_then(Path::file_name)
                        .map(|x| x.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                };
                self.settings.export_dir = req.out_dir.clone();
                self.worker.send(Job::Export(req));
            }
            UiCommand::DismissError => s.error = None,
        }
    }

    fn open_dialog(&mut self, kind: DialogKind) {
        if self.dialog_open {
            return;
        }
        self.dialog_open = true;
        let tx = self.dialogs.0.clone();
        let _ = std::thread::Builder::new()
            .name("vitscope-dialog".into())
            .spawn(move || {
                let t = Instant::now();
                let dialog = rfd::FileDialog::new();
                let path = match kind {
                    DialogKind::Image => dialog
                        .add_filter("Images", &["png", "jpg", "jpeg"])
                        .pick_file(),
                    DialogKind::Model => dialog
                        .add_filter("safetensors", &["safetensors"])
                        .pick_file(),
                };
                let _ = tx.send((kind, path, t.elapsed()));
            });
    }

    /// Drain the worker's replies and finished dialogs; apply dropped files.
    pub fn poll(&mut self, ctx: &egui::Context) {
        while let Some(reply) = self.worker.try_recv() {
            for outcome in reply.outcomes {
                self.receive(reply.generation, outcome);
            }
        }
        while let Ok((kind, path, elapsed)) = self.dialogs.1.try_recv() {
            self.dialog_open = false;
            match (kind, path) {
                (DialogKind::Image, Some(p)) => self.apply(UiCommand::LoadImage(p)),
                (DialogKind::Model, Some(p)) => self.apply(UiCommand::LoadModel(ModelSource::Path(p))),
                (_, None) if elapsed < Duration::from_millis(300) => {
                    self.state.notice = Some("No file dialog is available here (no desktop portal): type a path in the field, or drop the file on the window.".into())
                }
                (_, None) => {}
            }
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        for p in dropped {
            let is_model = p.is_dir() || p.extension().is_some_and(|e| e == "safetensors");
            self.apply(if is_model {
                UiCommand::LoadModel(ModelSource::Path(p))
            } else {
                UiCommand::LoadImage(p)
            });
        }
    }

    fn receive(&mut self, generation: u64, outcome: Outcome) {
        let s = &mut self.state;
        match outcome {
            Outcome::ModelLoaded(info) => {
                s.head = HeadSel::Mean;
                s.layer = info.layers.saturating_sub(1); // the last layer is where attention is most semantic
                s.model = Some(info);
                s.error = None;
            }
            Outcome::ImageLoaded { path, image } => {
                s.image_path = Some(path);
                s.image = Some(image);
                self.photo_generation += 1;
                s.error = None;
            }
            Outcome::Computed(c) => {
                s.layer = s.layer.min(c.rows.layers.saturating_sub(1));
                if let HeadSel::Head(h) = s.head {
                    if h >= c.rows.heads {
                        s.head = HeadSel::Mean;
                    }
                }
                s.query = query_of(&c.rows);
                s.rows = Some(c.rows);
                s.rows_generation = generation;
                s.input_hw = Some(c.input_hw);
                s.forward_ms = Some(c.forward_ms);
                s.classes = c.classes;
            }
            Outcome::Rows(rows) => {
                if generation >= self.query_generation {
                    s.query = query_of(&rows);
                    s.rows = Some(rows);
                    s.rows_generation = generation;
                }
            }
            Outcome::Exported(files) => {
                s.notice = Some(format!(
                    "exported {}",
                    files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                s.last_export = files;
            }
            Outcome::Failed(msg) => s.error = Some(msg),
        }
    }
}

/// The query spec that produced `rows`.
fn query_of(rows: &QueryRows) -> QuerySpec {
    match rows.layout.patch_of_token(rows.query) {
        Some((r, c)) => QuerySpec::Patch(r, c),
        None if rows.layout.prefix.get(rows.query) == Some(&PrefixToken::Cls) => QuerySpec::Cls,
        None => QuerySpec::Prefix(rows.query),
    }
}

impl eframe::App for App {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let mut cmds = Vec::new();
        egui::Panel::bottom("status").show(ui, |ui| status_bar::ui(self, ui));
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
        egui::CentralPanel::default().show(ui, |ui| attention_view::ui(self, ui, &mut cmds));
        for c in cmds {
            self.apply(c);
        }
        if self.busy() {
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.settings);
    }
}
