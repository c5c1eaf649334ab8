//! The app: state, commands, and the loop that drains the worker's replies.
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

pub use super::command::{DialogKind, UiCommand};
use super::context::{Textures, ViewCtx};
pub use super::state::{ErrorSubject, MethodParams, ViewState};

mod analysis;
mod apply;
mod replies;
mod view_export;

use super::settings::View;
use super::settings::{STORAGE_KEY, Settings};
use super::{
    attention_view, compare_view, controls, distance_view, embeddings_view, head_grid,
    methods_view, model_info, model_view, status_bar, tokens_view,
};
use crate::analysis::HeadSel;
use crate::export::maps::{HeadSpec, LayerSpec, MapExport, Style};
use crate::jobs::AnalysisRequest;
use crate::jobs::{Job, Worker};
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

pub struct App {
    pub settings: Settings,
    pub state: ViewState,
    worker: Worker,
    dialogs: (
        Sender<(DialogKind, Option<PathBuf>, Duration)>,
        Receiver<(DialogKind, Option<PathBuf>, Duration)>,
    ),
    dialog_open: bool,
    pub(super) tex: Textures,
    startup_report: Option<super::startup_report::Report>,
    query_generation: u64,
    /// Where the settings are saved (atomically, with a backup), when anywhere.
    settings_file: Option<PathBuf>,
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
                size_asked: start.size,
                model_asked: String::new(),
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
            tex: Textures::default(),
            startup_report: super::startup_report::asked(),
            query_generation: 0,
            frame_ms: Default::default(),
        };
        app.worker.send(Job::SetStore(start.attention));
        app.worker.send(Job::SetSize(start.size));
        app.reopen(&start);
        app
    }

    /// What a view gets this frame: the state, this frame's draft of the settings, the textures and the
    /// worker's progress.
    fn cx<'a>(
        &'a mut self,
        settings: &'a mut Settings,
        work: &'a Option<(String, usize, usize)>,
    ) -> ViewCtx<'a> {
        ViewCtx {
            work,
            busy: self.worker.in_flight() > 0,
            state: &mut self.state,
            settings,
            tex: &mut self.tex,
        }
    }

    /// The colour-scale range of the map of `layer`/`head`, as the views draw it.
    pub fn map_range(&self, layer: usize, head: HeadSel) -> Option<(f32, f32)> {
        super::context::map_range(&self.state, &self.settings, &self.tex, layer, head)
    }

    /// With `VITSCOPE_STARTUP_REPORT`: once a frame that painted a map has been shown, say when.
    fn report_startup(&mut self, ctx: &egui::Context) {
        use super::startup_report::{Report, process_age};
        let Some(report) = self.startup_report else {
            return;
        };
        if self.tex.map_frames == 0 {
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
        super::context::shown_map(&self.state)
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
        // Views edit a draft of the settings; a change reaches the settings through `apply`.
        let mut draft = self.settings.clone();
        // the worker's progress, read once for the frame
        let work = self.worker.progress();
        egui::Panel::bottom("status").show(ui, |ui| {
            status_bar::ui(&mut self.cx(&mut draft, &work), ui, &mut cmds)
        });
        egui::Panel::left("controls")
            .resizable(true)
            .default_size(330.0)
            .size_range(260.0..=480.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    controls::ui(&mut self.cx(&mut draft, &work), ui, &mut cmds);
                    ui.separator();
                    model_info::ui(&self.cx(&mut draft, &work), ui);
                });
            });
        // the heads panel serves the views that show one head's map; the others get its width
        if matches!(self.settings.view, View::Attention | View::Methods) {
            egui::Panel::right("heads")
                .resizable(true)
                .default_size(280.0)
                .size_range(180.0..=520.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        head_grid::ui(&mut self.cx(&mut draft, &work), ui, &mut cmds)
                    });
                });
        }
        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                for v in View::ALL {
                    if ui
                        .selectable_label(self.settings.view == v, v.label())
                        .clicked()
                    {
                        cmds.push(UiCommand::SetView(v));
                    }
                }
                ui.separator();
                if ui
                    .small_button("F1 help")
                    .on_hover_text("Keyboard shortcuts and mouse actions (F1 or ?)")
                    .clicked()
                {
                    self.state.help = !self.state.help;
                }
                ui.small("keys: Left/Right layer · Up/Down head · O overlay · E export")
                    .on_hover_text("Keyboard shortcuts (when no text field has focus)");
            });
            ui.separator();
            match self.settings.view {
                View::Attention => {
                    attention_view::ui(&mut self.cx(&mut draft, &work), ui, &mut cmds)
                }
                View::Model => model_view::ui(&mut self.cx(&mut draft, &work), ui, &mut cmds),
                View::Methods => methods_view::ui(&mut self.cx(&mut draft, &work), ui, &mut cmds),
                View::Compare => compare_view::ui(&mut self.cx(&mut draft, &work), ui, &mut cmds),
                View::Distance => distance_view::ui(&mut self.cx(&mut draft, &work), ui, &mut cmds),
                View::Tokens => tokens_view::ui(&mut self.cx(&mut draft, &work), ui, &mut cmds),
                View::Embeddings => {
                    embeddings_view::ui(&mut self.cx(&mut draft, &work), ui, &mut cmds)
                }
            }
        });
        super::overwrite::ui(&mut self.cx(&mut draft, &work), ui, &mut cmds);
        super::help::ui(ui.ctx(), &mut self.state.help);
        if self.state.overwrite_prompt.is_none() && ui.ctx().memory(|m| m.focused().is_none()) {
            // E exports what the view shows: the map, the view's figure, or the distance plot
            let export = match self.settings.view {
                View::Attention | View::Model => UiCommand::ExportMap,
                View::Distance => UiCommand::ExportDistance,
                View::Methods | View::Compare | View::Tokens | View::Embeddings => {
                    UiCommand::ExportView
                }
            };
            ui.ctx().input(|i| {
                for (key, cmd) in [
                    (egui::Key::ArrowLeft, UiCommand::StepLayer(-1)),
                    (egui::Key::ArrowRight, UiCommand::StepLayer(1)),
                    (egui::Key::ArrowUp, UiCommand::StepHead(-1)),
                    (egui::Key::ArrowDown, UiCommand::StepHead(1)),
                    (egui::Key::O, UiCommand::ToggleOverlay),
                    (egui::Key::E, export),
                    // Escape closes the error (the panel keeps its place)
                    (egui::Key::Escape, UiCommand::DismissError),
                ] {
                    if i.key_pressed(key) {
                        cmds.push(cmd);
                    }
                }
                if i.key_pressed(egui::Key::F1) || i.key_pressed(egui::Key::Questionmark) {
                    self.state.help = !self.state.help;
                }
                if i.key_pressed(egui::Key::Escape) {
                    self.state.help = false;
                }
            });
        }
        if draft != self.settings {
            cmds.insert(0, UiCommand::SetSettings(Box::new(draft)));
        }
        for c in cmds {
            self.apply(c);
        }
        self.request_analysis();
        if self.busy() {
            ui.ctx().request_repaint_after(Duration::from_millis(500));
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
