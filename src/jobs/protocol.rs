//! What crosses the worker boundary: the jobs the UI sends, the outcomes it gets back, typed errors, and the
//! progress of long work.
use std::path::PathBuf;
use std::sync::Arc;

use image::RgbImage;

use super::other::PaneSource;
use crate::analysis::{
    HeadStats, PatchFilters, PosSimilarity, PrefixConvention, QueryRows, RolloutOptions, TokenMap,
    TokenNorms,
};
use crate::engine::{ClassScore, ModelInfo};
use crate::export::maps::MapExport;
use crate::model::{
    AttentionStore, DeviceChoice, InputSize, ModelSource, Precision, PrefixToken, TokenLayout,
};

/// Which token the maps are computed from; resolved against each new layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QuerySpec {
    /// The i-th prefix token (0 = CLS).
    #[default]
    Cls,
    Prefix(usize),
    /// Patch (row, col).
    Patch(usize, usize),
    /// The attention-pooling probe (SigLIP's MAP head), not a token of the sequence.
    Probe,
}

impl QuerySpec {
    /// The query in the app's one notation: `CLS`, `prefix token 2`, `patch row 6, col 9`, `MAP`.
    pub fn describe(&self) -> String {
        match *self {
            QuerySpec::Cls => "CLS".into(),
            QuerySpec::Prefix(i) => format!("prefix token {i}"),
            QuerySpec::Patch(r, c) => format!("patch row {r}, col {c}"),
            QuerySpec::Probe => "MAP".into(),
        }
    }

    /// The query that `rows` answer.
    pub fn of_rows(rows: &QueryRows) -> QuerySpec {
        if rows.kind == crate::analysis::RowsKind::Probe {
            return QuerySpec::Probe;
        }
        match rows.layout.patch_of_token(rows.query) {
            Some((r, c)) => QuerySpec::Patch(r, c),
            None if rows.layout.prefix.get(rows.query) == Some(&PrefixToken::Cls) => QuerySpec::Cls,
            None => QuerySpec::Prefix(rows.query),
        }
    }

    /// Token index in `layout`; `None` when the token does not exist there.
    pub fn token(&self, layout: &TokenLayout) -> Option<usize> {
        match *self {
            QuerySpec::Cls => layout.prefix.iter().position(|p| *p == PrefixToken::Cls),
            QuerySpec::Prefix(i) => (i < layout.num_prefix()).then_some(i),
            QuerySpec::Patch(r, c) => layout.token_of_patch(r, c),
            QuerySpec::Probe => None,
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
    /// Re-run the current input under an intervention (none: back to the untouched run).
    SetIntervention(crate::model::Intervention),
    SetQuery(QuerySpec),
    /// The rows of a query without making it the query (the Model view's hover preview).
    PreviewQuery(QuerySpec),
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
    /// Deletion and insertion curves of every method's ranking (the Methods view's, plus attention and
    /// random) for the current image and query.
    Faithfulness {
        opts: RolloutOptions,
        target: String,
        flow: bool,
        steps: usize,
        fill: crate::model::Fill,
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
    pub(super) fn start(&self, what: &str, total: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Ok(mut w) = self.what.lock() {
            *w = what.to_string();
        }
        self.progress.done.store(0, Relaxed);
        self.progress.cancel.store(false, Relaxed);
        self.total.store(total, Relaxed);
    }
    /// A new label and total for the work in progress, keeping a cancel already asked for.
    pub(super) fn relabel(&self, what: &str, total: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Ok(mut w) = self.what.lock() {
            *w = what.to_string();
        }
        self.progress.done.store(0, Relaxed);
        self.total.store(total, Relaxed);
    }
    pub(super) fn finish(&self) {
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
    pub(super) fn tick(&self, done: usize) -> bool {
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

/// A method that could not be computed for the current parameters, and why; the view shows it in the
/// method's pane, with the input size that would fit when memory was the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub name: crate::methods::QueryMethod,
    pub reason: String,
    /// A shorter side (px) at which the method would fit in memory.
    pub suggest_size: Option<usize>,
}

impl Refusal {
    pub fn new(name: crate::methods::QueryMethod, e: &crate::methods::MethodError) -> Refusal {
        use crate::methods::MethodError;
        use crate::model::ModelError;
        let suggest_size = match e {
            MethodError::Model(
                ModelError::TooLarge { suggest, .. }
                | ModelError::GradientsTooLarge { suggest, .. },
            ) => Some(*suggest),
            _ => None,
        };
        Refusal {
            name,
            reason: e.to_string(),
            suggest_size,
        }
    }
}

#[derive(Debug, Clone)]
pub enum AnalysisResult {
    /// The maps computed, and the methods refused (each with its reason).
    Methods(Vec<MethodMap>, Vec<Refusal>),
    Faithfulness {
        /// Per ranking, its name and curves (random last).
        curves: Vec<(String, crate::methods::faithfulness::Curves)>,
        /// What the score is.
        score: String,
    },
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
        /// The position-embedding similarity, or why the model has none (RoPE, relative bias, windows).
        pos: Result<PosSimilarity, String>,
        filters: PatchFilters,
        /// Swin's and BEiT's learned relative position bias.
        rel_bias: Option<crate::analysis::RelativeBias>,
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
    /// The input size the worker now runs at (what the size field should say).
    pub size: crate::model::InputSize,
    pub input_hw: (usize, usize),
    pub forward_ms: f64,
    /// How the run keeps its attention, and the bytes that takes.
    pub store: AttentionStore,
    pub attention_bytes: u64,
    /// The classifier's top 5 (empty for models without a head).
    pub classes: Vec<ClassScore>,
    /// Under an intervention: the untouched run's side, to show what changed.
    pub change: Option<Change>,
    /// The logit lens of this run (top 3 classes and cosine to the final pooled feature per layer); empty
    /// where it is not defined (Swin).
    pub lens: Vec<crate::methods::lens::LensLayer>,
    /// Said when the query asked for does not exist in this run (a patch outside a smaller grid, CLS on a
    /// model without one) and another is shown; the old one is forgotten.
    pub notice: Option<String>,
}

/// What an intervention changed: the untouched run against the current one.
#[derive(Debug, Clone)]
pub struct Change {
    pub intervention: crate::model::Intervention,
    /// The same query's rows in the untouched run.
    pub before: QueryRows,
    /// The untouched run's top 5 classes (empty for models without a head).
    pub classes: Vec<ClassScore>,
    /// Cosine similarity of the pooled feature to the untouched one.
    pub pooled_cosine: f64,
    /// Per token, the cosine similarity of its final feature to the untouched one.
    pub token_cosine: Vec<f32>,
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
    /// New rows for a new query (and the untouched run's, under an intervention).
    Rows {
        rows: QueryRows,
        before: Option<QueryRows>,
    },
    /// Rows of a previewed query; the query stays what it was.
    Preview {
        query: QuerySpec,
        rows: QueryRows,
    },
    Exported(Vec<PathBuf>),
    Analysis {
        request: AnalysisRequest,
        result: Box<AnalysisResult>,
    },
    Failed(JobError),
    /// Not run: a later request made it moot (a newer analysis of the same kind, the next query move).
    Superseded,
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
    /// The input would not fit (in memory with maps kept, or within the per-side limit); refused before
    /// running. `suggest`: a shorter side (px) that fits; `memory`: keeping queries and keys would fit too.
    #[error("{msg}")]
    TooLarge {
        msg: String,
        suggest: usize,
        memory: bool,
    },
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
