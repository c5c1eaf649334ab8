//! The command line's definition: every subcommand, option and help text. No tch and no domain types here
//! (only std, clap and the input size), because the `vitscope` launcher (src/main.rs) compiles this file on
//! its own to answer `--help`, `--version` and usage errors without loading libtorch; the engine binary
//! (src/engine_main.rs) parses the same definition and maps these values onto the domain types
//! (src/cli/mod.rs).
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::model::InputSize;

#[derive(Parser, Debug)]
#[command(
    name = "vitscope",
    // the same usage line from the launcher and from vitscope-engine
    bin_name = "vitscope",
    version,
    about = "Look inside Vision Transformers: attention maps through libtorch."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub open: ModelImageArgs,
    /// The view the app opens on (default: the one used last).
    #[arg(long, value_enum)]
    pub view: Option<ViewArg>,
}

#[derive(Args, Debug, Clone)]
pub struct ModelImageArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Image file (PNG, JPEG, GIF, WebP, TIFF or BMP; recognised by content). The app opens a sample photo when none is given.
    #[arg(long)]
    pub image: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write the model input and every layer's attention to a safetensors file.
    Dump {
        #[command(flatten)]
        common: ModelImageArgs,
        #[command(flatten)]
        intervention: InterventionArgs,
        /// Output .safetensors file.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Describe a model (family, layout, preprocessing, what was inferred) as JSON; with --image, also the
    /// classifier's top 5 classes and the forward time.
    Info {
        #[command(flatten)]
        common: ModelImageArgs,
    },
    /// Check this machine: which devices libtorch sees (CUDA loaded only when asked for or a GPU driver is
    /// present), then run the app's worker thread — the same code the app uses — on the chosen device with the
    /// model and image, and print what it answered, as JSON.
    Doctor {
        #[command(flatten)]
        common: ModelImageArgs,
    },
    /// Write a method's maps as PNG (for people) or NPY (raw values, for code).
    ///
    /// NPY shapes (f32 unless said): attention [gh, gw] for one layer and head, with a leading layer axis for
    /// --layer all and a head axis for --head all ([L, H, gh, gw] at most); rollout, flow, grad-rollout,
    /// relevance [gh, gw] (patch tokens; prefix-token values go in the PNG text and on stderr); dino-mask
    /// [heads, gh, gw] u8; token-norm [L, N] (every token, prefix first) plus prefix-mass.csv; feature-pca
    /// [gh, gw, 3] ([images, gh, gw, 3] with --joint); pos-sim [gh, gw, gh, gw]; patch-pca [k, P, P, 3];
    /// rel-bias (Swin, BEiT: the learned relative position bias over offsets) [heads, 2h-1, 2w-1] per layer.
    #[command(verbatim_doc_comment)]
    Export {
        #[command(flatten)]
        common: ModelImageArgs,
        #[command(flatten)]
        intervention: InterventionArgs,
        /// Output folder (created if needed).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "attention")]
        method: MethodArg,
        #[arg(long, value_enum, default_value = "png")]
        format: FormatArg,
        /// Layer (0-based), `last` or `all`. Default: all for attention and token-norm, last otherwise
        /// (feature-pca: `last` is the model's output tokens after the final norm; a number is that block's
        /// output).
        #[arg(long)]
        layer: Option<String>,
        /// Head (0-based), `mean` or `all` (each head plus a grid of all heads).
        #[arg(long, default_value = "mean")]
        head: String,
        /// Query token: `cls`, `dist`, `regN`, `map` (the attention-pooling probe of SigLIP-style models), a
        /// patch `ROW,COL` (0-based; for a Swin, of its last stage), or `auto` (CLS, else the probe, else the
        /// first prefix token, else the centre patch).
        #[arg(long, default_value = "auto")]
        query: String,
        #[command(flatten)]
        method_args: MethodArgs,
        /// The colour map (inferno by default, as the app: dark where attention is low).
        #[arg(long, value_enum, default_value = "inferno")]
        colormap: ColormapArg,
        /// Blend the map over the photo (default).
        #[arg(long, conflicts_with = "raw")]
        overlay: bool,
        /// Write the coloured map alone, each patch a solid block at the model's input resolution.
        #[arg(long)]
        raw: bool,
        /// Opacity of the map in overlays, 0..1 (0.7, as the app).
        #[arg(long, default_value_t = 0.7)]
        opacity: f32,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Mean attention distance and entropy per layer and head, for one image or averaged over many.
    Distance {
        #[command(flatten)]
        model: ModelArgs,
        /// Image files and folders (every image directly inside a folder).
        #[arg(long, num_args = 1.., required = true)]
        images: Vec<PathBuf>,
        /// Output CSV: layer,head,mean_distance_px,entropy.
        #[arg(long)]
        out: PathBuf,
        /// Also draw the ViT paper's plot (distance and entropy against depth, one dot per head): an SVG
        /// (vector text) when the name ends in .svg, else a PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// The plot's resolution in dots per inch: its physical size stays, its pixels scale (96: 1120 px
        /// wide); PNGs record it.
        #[arg(long, default_value_t = 96, value_parser = clap::value_parser!(u32).range(24..=1200))]
        dpi: u32,
        /// How attention to prefix tokens (CLS, registers) counts: renormalise over the patches, or drop it.
        #[arg(long, value_enum, default_value = "renormalise")]
        prefix: PrefixArg,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Which map is right? Deletion and insertion curves: patches removed from (or added back to) each image in
    /// the order each method ranks them, the target's score after each step, and the area under each curve,
    /// averaged over the images; a random order is the baseline.
    Faithfulness {
        #[command(flatten)]
        model: ModelArgs,
        /// Image files and folders (every image directly inside a folder).
        #[arg(long, num_args = 1.., required = true)]
        images: Vec<PathBuf>,
        /// The methods that rank the patches, comma-separated: attention (the query's head-mean row in the last
        /// layer), rollout, flow, grad-rollout, relevance. `random` is always added as the baseline.
        #[arg(long, default_value = "attention,rollout")]
        methods: String,
        /// Steps per curve (20: 5 % of the patches per step).
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// Output CSV, one row per method and random: method,deletion_auc,insertion_auc,images. The curves
        /// themselves go next to it as NAME_curves.csv: method,curve,fraction,score.
        #[arg(long)]
        out: PathBuf,
        /// Also draw the curves (deletion and insertion side by side, the areas in the legend): an SVG (vector
        /// text) when the name ends in .svg, else a PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// The plot's resolution in dots per inch: its physical size stays, its pixels scale (96: 1120 px
        /// wide); PNGs record it.
        #[arg(long, default_value_t = 96, value_parser = clap::value_parser!(u32).range(24..=1200))]
        dpi: u32,
        /// The score: `top` (each image's top class's probability; for a model without a classifier, the
        /// cosine similarity of the pooled feature to the unchanged image's) or a class number. The gradient
        /// methods explain the same target.
        #[arg(long, default_value = "top")]
        target: String,
        /// What a removed patch becomes: the model's mean colour, black, a blur of the image, or `remove`:
        /// its token taken out of the sequence (not for a model without a class or register token, whose
        /// every-patch-removed step would have no token left).
        #[arg(long, value_enum, default_value = "mean")]
        fill: FillArg,
        /// Forward passes per batch (default: on a GPU 16, fewer past 65,536 tokens a batch; 1 on the CPU, where batching gains nothing).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=256))]
        batch: Option<u64>,
        /// The query the maps start from: auto (CLS, else the attention-pooling probe, else the centre patch),
        /// cls, dist, regN, map or ROW,COL.
        #[arg(long, default_value = "auto")]
        query: String,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// The logit lens: every layer's tokens through the final norm and the head, as if the network ended there
    /// — at which depth the answer forms. CSV layer,rank,class,name,probability,cosine_to_final (a model without
    /// a classifier: the cosine of each layer's pooled feature to the final one).
    Lens {
        #[command(flatten)]
        common: ModelImageArgs,
        #[command(flatten)]
        intervention: InterventionArgs,
        /// Classes per layer.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Write the CSV here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// Interventions: the run is made with these changes, and every file written names them.
#[derive(Args, Debug, Clone, Default)]
pub struct InterventionArgs {
    /// Occlude patches before the model sees them: `ROW,COL` or a rectangle `R0-R1,C0-C1` (0-based, inclusive),
    /// as many as wanted. For a Swin, of its stem's grid.
    #[arg(long, num_args = 1.., value_name = "ROW,COL")]
    pub occlude: Vec<String>,
    /// What occluded patches become: the model's mean colour, black, a blur of the image, or `remove`: their
    /// tokens taken out of the sequence (every family but Swin).
    #[arg(long, value_enum, default_value = "mean")]
    pub fill: FillArg,
    /// Ablate heads: `LAYER:HEAD` or `LAYER:all`, as many as wanted.
    #[arg(long, num_args = 1.., value_name = "LAYER:HEAD")]
    pub ablate: Vec<String>,
    /// What an ablated head's output becomes: zero, or its mean over the image's tokens.
    #[arg(long, value_enum, default_value = "zero")]
    pub ablation: AblationArg,
    /// Drop tokens from the keys of every layer: `cls`, `dist`, `regN` or a patch `ROW,COL`.
    #[arg(long, num_args = 1.., value_name = "TOKEN")]
    pub drop: Vec<String>,
}

/// What an ablated head's output becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum AblationArg {
    #[default]
    Zero,
    Mean,
}

/// What an occluded patch becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum FillArg {
    #[default]
    Mean,
    Zero,
    Blur,
    Remove,
}

/// Model options (commands that take many images use these without `--image`).
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model: `default` (built-in DINOv2 ViT-S/14), a .safetensors file, a folder holding one, or a Hugging Face
    /// repo id (`org/name`) in the local hub cache ($HF_HUB_CACHE or $HF_HOME/hub; downloaded only with --download).
    #[arg(long, default_value = "default")]
    pub model: String,
    /// Download the --model repo id from the hub ($HF_ENDPOINT, else huggingface.co; token in HF_TOKEN) into
    /// the local cache first: config, preprocessing and safetensors weights only, with progress; files
    /// already cached at the repo's current commit are kept. Ctrl-C stops it; the next download resumes.
    #[arg(long)]
    pub download: bool,
    /// Input size: N (shorter side to N px, aspect kept) or HxW; rounded to whole patches.
    #[arg(long, default_value = "224")]
    pub size: InputSize,
    /// Where the model runs: auto (CUDA if available), cpu or cuda.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceArg,
    /// Precision of weights and activations (softmax is always computed in f32).
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionArg,
    /// How the attention is kept: f32 (exact), f16 or bf16 (half the memory, rounded), or query-keys (each
    /// layer's queries and keys; rows recomputed when needed: linear memory, for very large inputs).
    #[arg(long, value_enum, default_value = "f32")]
    pub attention: AttentionArg,
}

/// Options of the aggregate methods.
#[derive(Args, Debug, Clone)]
pub struct MethodArgs {
    /// rollout, flow: how heads are fused.
    #[arg(long, value_enum, default_value = "mean")]
    pub fusion: FusionArg,
    /// rollout, flow, grad-rollout: weight α of the identity (residual), 0..1.
    #[arg(long, default_value_t = 0.5)]
    pub residual: f64,
    /// rollout, flow, grad-rollout: fraction of each row's smallest entries set to zero before the residual
    /// (the row's largest entry is always kept), 0..1.
    #[arg(long, default_value_t = 0.0)]
    pub discard: f64,
    /// rollout, flow, grad-rollout: first layer of the product (0-based).
    #[arg(long, default_value_t = 0)]
    pub start_layer: usize,
    /// rollout, flow, grad-rollout: last layer of the product (0-based, inclusive; default the last).
    #[arg(long)]
    pub end_layer: Option<usize>,
    /// grad-rollout, relevance: the scalar explained. `top` (the top class; for models without a head, the
    /// cosine similarity of the pooled feature to the centre patch's final feature), a class index `N`,
    /// `A-B` (logit A minus logit B), or `sim:ROW,COL` / `sim:cls` (similarity of the pooled feature to
    /// that token's final feature).
    #[arg(long, default_value = "top")]
    pub target: String,
    /// dino-mask: fraction τ of the attention mass each head's mask holds.
    #[arg(long, default_value_t = 0.6)]
    pub tau: f64,
    /// feature-pca: foreground threshold on the first component (scaled 0..1), or `none`.
    #[arg(long, default_value = "0.5")]
    pub fg_threshold: String,
    /// feature-pca: more images analysed jointly with --image (resized to the same input size).
    #[arg(long, num_args = 1..)]
    pub joint: Vec<PathBuf>,
    /// pos-sim: the grid the model was trained for, or the current input's (embeddings resized).
    #[arg(long, value_enum, default_value = "trained")]
    pub pos_grid: PosGrid,
    /// patch-pca: number of principal components (1 or more).
    #[arg(long, default_value_t = 28, value_parser = at_least_one)]
    pub components: usize,
    /// attention and the query maps (rollout, flow, grad-rollout, relevance): a colour bar with the map's value
    /// range and what it measures under each single-map PNG.
    #[arg(long)]
    pub colour_bar: bool,
    /// attention: also write each map, head grid and mosaic as SVG next to its PNG (the maps embedded; tile
    /// names, the colour bar, its ticks and what it measures as vector shapes and text; provenance as metadata).
    #[arg(long)]
    pub svg: bool,
    /// attention: resize single-map PNGs so their longer side is PX pixels (default: the photo's size).
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(16..=16384))]
    pub long_side: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PosGrid {
    Trained,
    Input,
}

/// A count that must be 1 or more, in words when it is not.
fn at_least_one(s: &str) -> std::result::Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of 1 or more")),
    }
}

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

/// Precision of weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    F32,
    F16,
    Bf16,
}

/// How forward passes keep the attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttentionArg {
    /// Every layer's softmax attention in f32 (exact; what the app keeps).
    F32,
    /// Every layer's softmax attention in IEEE half precision (half the memory; values below 6.1e-5 lose
    /// relative precision, below 6e-8 they flush to 0).
    F16,
    /// Every layer's softmax attention in bfloat16 (half the memory; f32's range, 3 significant digits).
    Bf16,
    /// Each layer's scaled queries and keys; attention rows recomputed on demand.
    QueryKeys,
}

/// How heads are fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FusionArg {
    Mean,
    Max,
    Min,
}

/// How attention to prefix tokens counts in distance and entropy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrefixArg {
    Renormalise,
    Drop,
}

/// The methods `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Attention,
    Rollout,
    Flow,
    GradRollout,
    Relevance,
    DinoMask,
    TokenNorm,
    FeaturePca,
    PosSim,
    PatchPca,
    RelBias,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Png,
    Npy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColormapArg {
    Viridis,
    Magma,
    Inferno,
    Turbo,
    Gray,
}

/// The app's central views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ViewArg {
    Attention,
    Model,
    Methods,
    Compare,
    Distance,
    Tokens,
    Embeddings,
}

/// What both binaries do with a command line clap refused: print help or the version (exit 0), or the first
/// line of a usage error, which says what is wrong, with a pointer to `--help` (exit 2).
pub fn usage_error(e: clap::Error) -> std::process::ExitCode {
    if !e.use_stderr() {
        e.exit() // --help, --version
    }
    let text = e.render().to_string();
    eprintln!(
        "{} (see vitscope --help)",
        text.lines().next().unwrap_or("error: invalid arguments")
    );
    std::process::ExitCode::from(2)
}
