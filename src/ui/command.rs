//! What views ask for: every change they want is a [`UiCommand`], which [`super::App::apply`] carries out.
use std::path::PathBuf;

use super::settings::View;
use crate::analysis::HeadSel;
use crate::jobs::QuerySpec;
use crate::model::{AttentionStore, DeviceChoice, InputSize, ModelSource, Precision};

/// Everything views emit; [`App::apply`] is the only place that acts on them.
#[derive(Debug, Clone, PartialEq)]
pub enum UiCommand {
    SetLayer(usize),
    SetHead(HeadSel),
    SetQuery(QuerySpec),
    /// Show a query's maps in the Model view without making it the query (hover); `None` ends the preview.
    PreviewQuery(Option<QuerySpec>),
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
    /// The settings as a view edited them this frame (colormap, opacity, export options, …).
    SetSettings(Box<super::settings::Settings>),
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
    /// The Methods view's faithfulness curves: plot, areas and curves.
    ExportCurves,
    /// Show a folder in the desktop's file manager (the last export's).
    OpenFolder(PathBuf),
    /// Re-run under this intervention (the default: undo every change).
    SetIntervention(crate::model::Intervention),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    Image,
    Model,
}
