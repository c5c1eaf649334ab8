//! The worker thread: the only thread that touches tch. It owns an [`Engine`] (model, image, capture on
//! the device) and answers each request with exactly one [`Reply`] of small plain results.
//!
//! Requests carry a generation number; the UI drops replies to queries it has already moved past.
//! A panic inside a job is caught here and reported as an error; the worker keeps serving.
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, channel, sync_channel};

use image::RgbImage;

mod analysis;
mod other;
pub use other::{PaneSource, map_query};

use crate::analysis::{
    HeadStats, PatchFilters, PosSimilarity, PrefixConvention, QueryRows, RolloutOptions, TokenMap,
    TokenNorms,
};
use crate::engine::{ClassScore, Engine, ModelInfo};
use crate::export::maps::{MapExport, export_maps, with_free_stem};
use crate::model::{
    AttentionStore, DeviceChoice, InputSize, ModelSource, Precision, PrefixToken, TokenLayout,
};

/// Which token the maps are computed from; resolved against each new layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuerySpec {
    /// The i-th prefix token (0 = CLS).
    #[default]
    Cls,
    Prefix(usize),
    /// Patch (row, col).
    Patch(usize, usize),
}

impl QuerySpec {
    /// Token index in `layout`; `None` when the token does not exist there.
    pub fn token(&self, layout: &TokenLayout) -> Option<usize> {
        match *self {
            QuerySpec::Cls => layout.prefix.iter().position(|p| *p == PrefixToken::Cls),
            QuerySpec::Prefix(i) => (i < layout.num_prefix()).then_some(i),
            QuerySpec::Patch(r, c) => layout.token_of_patch(r, c),
        }
    }
}

pub enum Job {
    LoadModel {
        source: ModelSource,
        device: DeviceChoice,
        precision: Precision,
    },
    /// Download a Hugging Face repo id into the hub cache (progress and cancel through [`Busy`]), then load it.
    DownloadModel {
        repo: String,
        device: DeviceChoice,
        precision: Precision,
    },
    LoadImage(PathBuf),
    SetSize(InputSize),
    /// Keep the attention another way (re-runs the current input).
    SetStore(AttentionStore),
    SetQuery(QuerySpec),
    /// Export maps; unless `overwrite` is set (the user said so), the stem is made unique first.
    Export(MapExport),
    /// Run an analysis on the current capture and query.
    Analyse(AnalysisRequest),
    /// Export `req` (the stem replaced by each image's) for every image in a folder, with the
    /// current model, input size and query; the loaded image stays.
    ExportFolder {
        folder: PathBuf,
        req: MapExport,
    },
}

/// What the analysis views ask the worker for.
#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisRequest {
    /// Aggregate maps for the current query: rollout, gradient rollout and relevance (and flow when asked).
    Methods {
        opts: RolloutOptions,
        /// As `vitscope export --target`: `top`, `N`, `A-B`, `sim:ROW,COL`.
        target: String,
        flow: bool,
    },
    /// Mean attention distance and entropy per layer and head of the current image.
    Stats(PrefixConvention),
    /// Token norms and prefix mass.
    Tokens,
    /// Position-embedding similarity (trained grid, or the input's) and patch-filter components.
    Embeddings { input_grid: bool },
    /// Distance and entropy averaged over the images of a folder (at the current input size).
    FolderStats {
        folder: PathBuf,
        convention: PrefixConvention,
    },
    /// The current query's rows for another image or model (a Compare pane).
    Other(PaneSource),
}

impl AnalysisRequest {
    /// Whether the answer depends on the current image and query (else only on the model and parameters).
    pub fn per_image(&self) -> bool {
        !matches!(self, AnalysisRequest::FolderStats { .. })
    }

    /// Whether two requests fill the same result slot: one per kind, and one per source for `Other`.
    pub fn same_slot(&self, other: &AnalysisRequest) -> bool {
        match (self, other) {
            (AnalysisRequest::Other(a), AnalysisRequest::Other(b)) => a == b,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

/// Long work in progress on the worker, shared with the UI: what, how far, and a cancel request.
#[derive(Debug, Default)]
pub struct Busy {
    pub what: std::sync::Mutex<String>,
    pub total: std::sync::atomic::AtomicUsize,
    pub progress: crate::analysis::Progress,
}

impl Busy {
    fn start(&self, what: &str, total: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Ok(mut w) = self.what.lock() {
            *w = what.to_string();
        }
        self.progress.done.store(0, Relaxed);
        self.progress.cancel.store(false, Relaxed);
        self.total.store(total, Relaxed);
    }
    /// A new label and total for the work in progress, keeping a cancel already asked for.
    fn relabel(&self, what: &str, total: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Ok(mut w) = self.what.lock() {
            *w = what.to_string();
        }
        self.progress.done.store(0, Relaxed);
        self.total.store(total, Relaxed);
    }
    fn finish(&self) {
        self.total.store(0, std::sync::atomic::Ordering::Relaxed);
    }
    /// (what, done, total) while long work runs.
    pub fn get(&self) -> Option<(String, usize, usize)> {
        use std::sync::atomic::Ordering::Relaxed;
        let total = self.total.load(Relaxed);
        (total > 0).then(|| {
            (
                self.what.lock().map(|w| w.clone()).unwrap_or_default(),
                self.progress.done.load(Relaxed),
                total,
            )
        })
    }
    pub fn cancel(&self) {
        self.progress
            .cancel
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    /// Record `done` units; false once cancel was asked for.
    fn tick(&self, done: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.progress.done.store(done, Relaxed);
        !self.progress.cancel.load(Relaxed)
    }
}

/// One aggregate map with what it is.
#[derive(Debug, Clone)]
pub struct MethodMap {
    pub name: crate::methods::QueryMethod,
    pub definition: String,
    pub map: TokenMap,
    pub ms: f64,
}

#[derive(Debug, Clone)]
pub enum AnalysisResult {
    Methods(Vec<MethodMap>),
    Stats(HeadStats),
    FolderStats {
        stats: HeadStats,
        skipped: Vec<String>,
        cancelled: bool,
    },
    Tokens {
        norms: TokenNorms,
        prefix_mass: Vec<Vec<f32>>,
    },
    Embeddings {
        pos: PosSimilarity,
        filters: PatchFilters,
    },
    Other {
        rows: QueryRows,
        photo: Arc<RgbImage>,
        input_hw: (usize, usize),
    },
}

/// The result of a forward pass, for the UI.
#[derive(Clone)]
pub struct Computed {
    pub rows: QueryRows,
    pub input_hw: (usize, usize),
    pub forward_ms: f64,
    /// How the run keeps its attention, and the bytes that takes.
    pub store: AttentionStore,
    pub attention_bytes: u64,
    /// The classifier's top 5 (empty for models without a head).
    pub classes: Vec<ClassScore>,
}

pub enum Outcome {
    ModelLoaded(ModelInfo),
    ImageLoaded {
        path: PathBuf,
        image: Arc<RgbImage>,
        /// What decoding did to the file (EXIF rotation, alpha compositing, …).
        notes: Vec<String>,
    },
    Computed(Computed),
    Rows(QueryRows),
    Exported(Vec<PathBuf>),
    Analysis {
        request: AnalysisRequest,
        result: Box<AnalysisResult>,
    },
    Failed(JobError),
}

/// Why a job gave no result. It crosses the worker boundary typed, so the front end can tell a stop the
/// user asked for from a failure, and words each its own way.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    /// The user stopped the work (Cancel); the message says what stopped and what was kept.
    #[error("{0}")]
    Cancelled(String),
    /// The job could not be done; the message says why.
    #[error("{0}")]
    Failed(String),
    /// A bug, caught at the job boundary.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

impl From<String> for JobError {
    fn from(s: String) -> Self {
        JobError::Failed(s)
    }
}

impl From<&str> for JobError {
    fn from(s: &str) -> Self {
        JobError::Failed(s.to_string())
    }
}

pub struct Reply {
    pub generation: u64,
    pub outcomes: Vec<Outcome>,
}

struct Request {
    generation: u64,
    job: Job,
}

/// The UI's handle on the worker.
pub struct Worker {
    tx: SyncSender<Request>,
    rx: Receiver<Reply>,
    next_generation: u64,
    in_flight: usize,
    busy: Arc<Busy>,
}

struct State {
    engine: Engine,
    query: QuerySpec,
    busy: Arc<Busy>,
    /// The device and precision of the last model load (other models in Compare use them too).
    device: DeviceChoice,
    precision: Precision,
    others: other::Others,
}

impl State {
    /// Download `repo` into the hub cache on a thread of its own, so that Cancel answers at once even when
    /// the connection stalls (the download checks its stop flag at every read and ends at the next one).
    fn download(&self, repo: &str) -> Result<PathBuf, JobError> {
        use crate::model::hub;
        use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
        self.busy
            .start(&format!("connecting to the hub for {repo}"), 1);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (busy, halt, id) = (self.busy.clone(), stop.clone(), repo.to_string());
        let spawned = std::thread::Builder::new()
            .name("vitscope-download".into())
            .spawn(move || {
                let mut file = String::new();
                let r = hub::download(&id, &hub::cache_dir(), &hub::endpoint(), &mut |p| {
                    if p.file != file {
                        file = p.file.clone();
                        let what = format!("downloading {} [{}/{}], KiB", p.file, p.index, p.files);
                        busy.relabel(&what, (p.total.div_ceil(1024) as usize).max(1));
                    }
                    busy.progress.done.store((p.done / 1024) as usize, Relaxed);
                    !halt.load(Relaxed)
                });
                let _ = tx.send(r);
            });
        if let Err(e) = spawned {
            return Err(format!("cannot start the download: {e}").into());
        }
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(r) => {
                    return r.map_err(|e| match e {
                        hub::HubError::Cancelled { .. } => JobError::Cancelled(e.to_string()),
                        e => JobError::Failed(e.to_string()),
                    });
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if self.busy.progress.cancel.load(Relaxed) {
                        stop.store(true, Relaxed);
                        return Err(JobError::Cancelled(format!(
                            "the download of {repo} was cancelled; what arrived stays in the cache as a part file, \
                             and downloading again resumes it"
                        )));
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(JobError::Internal("the download thread stopped".into()));
                }
            }
        }
    }

    fn rows(&mut self) -> crate::model::Result<Option<QueryRows>> {
        let Some(layout) = self.engine.layout() else {
            return Ok(None);
        };
        // A query this layout lacks (CLS on a model without one, a patch outside a smaller grid) falls back
        // to the layout's default; the request itself is kept, so it applies again to the next model.
        let token = self
            .query
            .token(layout)
            .unwrap_or_else(|| layout.default_query());
        self.engine.query_rows(token).transpose()
    }

    fn computed(&mut self, out: &mut Vec<Outcome>) -> crate::model::Result<()> {
        if let Some(rows) = self.rows()? {
            let run = self.engine.run.as_ref().expect("rows imply a run");
            out.push(Outcome::Computed(Computed {
                rows,
                input_hw: run.capture.input_hw,
                forward_ms: run.capture.forward_ms,
                store: self.engine.store,
                attention_bytes: run.capture.attention_bytes(),
                classes: self.engine.top_classes(5)?,
            }));
        }
        Ok(())
    }

    fn handle(&mut self, job: Job) -> Result<Vec<Outcome>, JobError> {
        let mut out = Vec::new();
        let e = |e: crate::model::ModelError| e.to_string();
        match job {
            Job::LoadModel {
                source,
                device,
                precision,
            } => {
                (self.device, self.precision) = (device, precision);
                self.engine
                    .load_model(&source, device, precision)
                    .map_err(e)?;
                let info = self
                    .engine
                    .model
                    .as_ref()
                    .expect("just loaded")
                    .info
                    .clone();
                out.push(Outcome::ModelLoaded(info));
                self.computed(&mut out).map_err(e)?;
            }
            Job::DownloadModel {
                repo,
                device,
                precision,
            } => {
                let fetched = self.download(&repo);
                self.busy.finish();
                fetched?;
                return self.handle(Job::LoadModel {
                    source: ModelSource::Path(repo.into()),
                    device,
                    precision,
                });
            }
            Job::LoadImage(path) => {
                let notes = self.engine.load_image(&path).map_err(e)?.to_vec();
                let img = self.engine.image.as_ref().expect("just loaded").1.clone();
                out.push(Outcome::ImageLoaded {
                    path,
                    image: Arc::new(img),
                    notes,
                });
                self.computed(&mut out).map_err(e)?;
            }
            Job::SetSize(size) => {
                self.engine.set_size(size).map_err(e)?;
                self.computed(&mut out).map_err(e)?;
            }
            Job::SetStore(store) => {
                self.engine.set_store(store).map_err(e)?;
                self.computed(&mut out).map_err(e)?;
            }
            Job::SetQuery(q) => {
                let old = self.query;
                self.query = q;
                match self.rows() {
                    Ok(Some(rows)) => out.push(Outcome::Rows(rows)),
                    Ok(None) => {}
                    Err(err) => {
                        self.query = old;
                        return Err(err.to_string().into());
                    }
                }
            }
            Job::Export(req) => {
                let rows = self
                    .rows()
                    .map_err(e)?
                    .ok_or("nothing to export yet: load a model and an image")?;
                let (Some((_, img)), Some(run)) = (&self.engine.image, &self.engine.run) else {
                    return Err("nothing to export yet".into());
                };
                // The app asked before setting `overwrite`; otherwise new files get a free stem.
                let req = if req.overwrite {
                    req
                } else {
                    with_free_stem(req)
                };
                // every file of the export or none
                let files = crate::export::all_or_nothing(|| {
                    export_maps(&rows, img, run.capture.input_hw, &req)
                })
                .map_err(|e| e.to_string())?;
                out.push(Outcome::Exported(files));
            }
            Job::ExportFolder { folder, req } => {
                let m = self.engine.model.as_ref().ok_or("no model loaded")?;
                let files = crate::engine::image_files(std::slice::from_ref(&folder))
                    .map_err(|e| format!("cannot list {}: {e}", folder.display()))?;
                if files.is_empty() {
                    return Err(format!(
                        "no images (PNG, JPEG, GIF, WebP, TIFF, BMP) in {}",
                        folder.display()
                    )
                    .into());
                }
                self.busy.start("batch export", files.len());
                let query = self.query;
                let mut written = Vec::new();
                let busy = &self.busy;
                let (skipped, cancelled) = crate::engine::over_images(
                    &m.vit,
                    &files,
                    self.engine.size,
                    self.engine.store,
                    |path, img, run| {
                        let layout = &run.capture.layout;
                        let token = query
                            .token(layout)
                            .unwrap_or_else(|| layout.default_query());
                        let rows = QueryRows::from_attentions(run.capture.source(), layout, token)
                            .map_err(|e| e.to_string())?;
                        let mut one = req.clone();
                        one.stem = path
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_else(|| "image".into());
                        one.image_name = path
                            .file_name()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        let one = with_free_stem(one);
                        let files = crate::export::all_or_nothing(|| {
                            export_maps(&rows, img, run.capture.input_hw, &one)
                        })
                        .map_err(|e| e.to_string())?;
                        written.extend(files);
                        Ok(())
                    },
                    |done, _, _| busy.tick(done),
                );
                self.busy.finish();
                out.push(Outcome::Exported(written));
                if cancelled || !skipped.is_empty() {
                    let text = format!(
                        "batch export{}{}",
                        if cancelled { " cancelled" } else { "" },
                        if skipped.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; skipped {}",
                                skipped
                                    .iter()
                                    .map(|(f, why)| format!("{}: {why}", f.display()))
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            )
                        }
                    );
                    out.push(Outcome::Failed(if skipped.is_empty() {
                        JobError::Cancelled(text)
                    } else {
                        JobError::Failed(text)
                    }));
                }
            }
            Job::Analyse(request) => {
                let result = self.analyse(&request).map_err(|e| match e
                    .downcast_ref::<crate::methods::MethodError>()
                {
                    Some(crate::methods::MethodError::Cancelled) => {
                        JobError::Cancelled("attention flow cancelled".into())
                    }
                    _ => JobError::Failed(format!("{e:#}")),
                })?;
                out.push(Outcome::Analysis {
                    request,
                    result: Box::new(result),
                });
            }
        }
        Ok(out)
    }
}

/// The message of a panic payload.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Run one job; an error or a panic becomes [`Outcome::Failed`], so the worker keeps serving.
fn guarded(job: impl FnOnce() -> Result<Vec<Outcome>, JobError>) -> Vec<Outcome> {
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => vec![Outcome::Failed(e)],
        Err(p) => vec![Outcome::Failed(JobError::Internal(panic_text(p.as_ref())))],
    }
}

impl Worker {
    /// Start the worker thread. `notify` is called after every reply (the UI requests a repaint).
    pub fn spawn(notify: impl Fn() + Send + 'static) -> Worker {
        let (tx, requests) = sync_channel::<Request>(64);
        let busy = Arc::new(Busy::default());
        let shared = busy.clone();
        let (replies, rx): (Sender<Reply>, Receiver<Reply>) = channel();
        std::thread::Builder::new()
            .name("vitscope-worker".into())
            .spawn(move || {
                let mut state = State {
                    engine: Engine::default(),
                    query: QuerySpec::Cls,
                    busy: shared,
                    device: DeviceChoice::Auto,
                    precision: Precision::F32,
                    others: Default::default(),
                };
                for Request { generation, job } in requests {
                    let outcomes = guarded(|| state.handle(job));
                    if replies
                        .send(Reply {
                            generation,
                            outcomes,
                        })
                        .is_err()
                    {
                        break;
                    }
                    notify();
                }
            })
            .expect("spawning the worker thread");
        Worker {
            tx,
            rx,
            next_generation: 1,
            in_flight: 0,
            busy,
        }
    }

    /// Queue a job; returns its generation.
    pub fn send(&mut self, job: Job) -> u64 {
        let generation = self.next_generation;
        self.next_generation += 1;
        if self.tx.send(Request { generation, job }).is_ok() {
            self.in_flight += 1;
        }
        generation
    }

    /// A finished reply, if any.
    pub fn try_recv(&mut self) -> Option<Reply> {
        match self.rx.try_recv() {
            Ok(r) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                Some(r)
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => None,
        }
    }

    /// Long work in progress: (what, done, total).
    pub fn progress(&self) -> Option<(String, usize, usize)> {
        self.busy.get()
    }

    /// Ask the long work in progress to stop.
    pub fn cancel(&self) {
        self.busy.cancel();
    }

    /// Jobs sent and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_job_is_reported_and_an_erring_one_keeps_its_message() {
        let out = guarded(|| panic!("boom {}", 7));
        assert!(
            matches!(&out[..], [Outcome::Failed(e)] if e.to_string() == "internal error (please report): boom 7")
        );
        let out = guarded(|| Err("bad layer".into()));
        assert!(matches!(&out[..], [Outcome::Failed(JobError::Failed(m))] if m == "bad layer"));
        let out = guarded(|| Err(JobError::Cancelled("attention flow cancelled".into())));
        assert!(matches!(
            &out[..],
            [Outcome::Failed(JobError::Cancelled(_))]
        ));
    }
}
