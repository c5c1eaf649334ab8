//! Attention maps for one query token.
//!
//! A capture holds `A_l` `[heads, N, N]` per layer (rows = queries). For a query token `q` we copy
//! the rows `A_l[h, q, :]` of every layer and head to the CPU once (`[L, H, N]` f32, a few hundred KB),
//! after which every layer/head/colormap change is a lookup: no model re-run, no device round trip.
//! A map shows the patch tokens only, as a `grid_h × grid_w` grid; the mass the query gives to prefix
//! tokens (CLS, registers, …) is reported separately by [`QueryRows::prefix_mass`].
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::source::AttentionSource;
use crate::grid::Grid;
use crate::model::TokenLayout;

/// Which head a map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum HeadSel {
    Head(usize),
    /// The mean over heads (of the attention probabilities).
    #[default]
    Mean,
}

impl HeadSel {
    pub fn label(&self) -> String {
        match self {
            HeadSel::Head(h) => format!("h{h}"),
            HeadSel::Mean => "mean".into(),
        }
    }
}

/// What a [`QueryRows`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsKind {
    /// Row `query` of every layer's attention.
    Token,
    /// The attention-pooling probe's attention (SigLIP's MAP head), the same at every layer.
    Probe,
    /// A Swin: for the query cell, each block's window row placed on the finest (stem) grid, zero outside
    /// the window, per head (stages have different head counts: see [`QueryRows::heads_at`]).
    Windows,
}

/// The attention rows of one query token for every layer and head, on the CPU.
#[derive(Debug, Clone)]
pub struct QueryRows {
    pub query: usize,
    /// What the rows are when they are not a token's rows of the layers' attention matrices.
    pub kind: RowsKind,
    pub layers: usize,
    /// The most heads of any layer (every layer's, except in a Swin).
    pub heads: usize,
    /// Each layer's own head count when they differ (a Swin's stages); empty when every layer has `heads`.
    pub layer_heads: Vec<usize>,
    pub layout: TokenLayout,
    /// `[layers, heads, tokens]` row-major; a layer with fewer heads than `heads` has zeros after its own.
    pub data: Vec<f32>,
    /// Swin (kind `Windows`): each layer's windows, to draw their grid over the image.
    pub windows: Vec<crate::model::swin::WindowMeta>,
}

impl QueryRows {
    /// Gather row `query` of every layer's `[heads, N, N]` attention.
    pub fn from_attentions<S: AttentionSource + ?Sized>(
        attention: &S,
        layout: &TokenLayout,
        query: usize,
    ) -> Result<QueryRows, super::AnalysisError> {
        let n = layout.num_tokens();
        if query >= n {
            return Err(super::AnalysisError::Invalid(format!(
                "query token {query} out of range (model has {n} tokens)"
            )));
        }
        let rows: Vec<Tensor> = (0..attention.layers())
            .map(|l| -> Result<Tensor, super::AnalysisError> {
                Ok(attention.rows(l, query as i64, 1)?.f_squeeze_dim(1)?)
            })
            .collect::<Result<_, _>>()?;
        let stacked = Tensor::f_stack(&rows, 0)?
            .f_to_device(Device::Cpu)?
            .f_to_kind(Kind::Float)?
            .f_contiguous()?;
        let size = stacked.size();
        let data = Vec::<f32>::try_from(stacked.f_flatten(0, -1)?)?;
        Ok(QueryRows {
            query,
            kind: RowsKind::Token,
            layers: size[0] as usize,
            heads: size[1] as usize,
            layer_heads: Vec::new(),
            layout: layout.clone(),
            data,
            windows: Vec::new(),
        })
    }

    /// How many heads layer `layer` has.
    pub fn heads_at(&self, layer: usize) -> usize {
        self.layer_heads.get(layer).copied().unwrap_or(self.heads)
    }

    /// The head mean, then each of layer `layer`'s heads.
    pub fn head_sels(&self, layer: usize) -> impl Iterator<Item = HeadSel> + use<> {
        std::iter::once(HeadSel::Mean).chain((0..self.heads_at(layer)).map(HeadSel::Head))
    }

    /// Whether `head` exists in layer `layer`.
    pub fn has_head(&self, layer: usize, head: HeadSel) -> bool {
        match head {
            HeadSel::Mean => true,
            HeadSel::Head(h) => h < self.heads_at(layer),
        }
    }

    pub fn tokens(&self) -> usize {
        self.layout.num_tokens()
    }

    /// The query's name: `CLS`, `patch row r, col c`, `MAP`.
    pub fn label(&self) -> String {
        match self.kind {
            RowsKind::Probe => "MAP".into(),
            _ => self.layout.token_label(self.query),
        }
    }

    /// The attention-pooling probe's attention `[heads, N]` as rows: the probe attends once, after the last
    /// block, so every layer holds that same row (the view says so).
    pub fn from_probe(
        pool: &Tensor,
        layers: usize,
        layout: &TokenLayout,
    ) -> Result<QueryRows, super::AnalysisError> {
        let heads = pool.size()[0] as usize;
        let row = Vec::<f32>::try_from(
            pool.f_to_device(Device::Cpu)?
                .f_to_kind(Kind::Float)?
                .f_contiguous()?
                .f_flatten(0, -1)?,
        )?;
        if row.len() != heads * layout.num_tokens() {
            return Err(super::AnalysisError::Invalid(format!(
                "a probe attention of {} values for {heads} heads and {} tokens",
                row.len(),
                layout.num_tokens()
            )));
        }
        Ok(QueryRows {
            query: 0,
            kind: RowsKind::Probe,
            layers,
            heads,
            layer_heads: Vec::new(),
            layout: layout.clone(),
            data: row.repeat(layers.max(1)),
            windows: Vec::new(),
        })
    }

    /// The full row (all tokens) for `layer` and `head`; the mean is over that layer's own heads. A head the
    /// layer does not have (a Swin stage with fewer heads) is all zeros: callers check [`Self::has_head`].
    pub fn row(&self, layer: usize, head: HeadSel) -> Vec<f32> {
        let n = self.tokens();
        let at =
            |h: usize| &self.data[(layer * self.heads + h) * n..(layer * self.heads + h + 1) * n];
        let own = self.heads_at(layer);
        match head {
            HeadSel::Head(h) if h < own => at(h).to_vec(),
            HeadSel::Head(_) => vec![0f32; n],
            HeadSel::Mean => {
                let mut acc = vec![0f32; n];
                for h in 0..own {
                    acc.iter_mut().zip(at(h)).for_each(|(a, v)| *a += v);
                }
                acc.iter_mut().for_each(|a| *a /= own as f32);
                acc
            }
        }
    }

    /// The map over patches: `[grid_h, grid_w]`, prefix tokens left out (not renormalised).
    pub fn patch_map(&self, layer: usize, head: HeadSel) -> Grid {
        let row = self.row(layer, head);
        let p = self.layout.num_prefix();
        Grid {
            h: self.layout.grid_h,
            w: self.layout.grid_w,
            data: row[p..].to_vec(),
        }
    }

    /// Attention mass the query gives to the prefix tokens (CLS, registers, …).
    pub fn prefix_mass(&self, layer: usize, head: HeadSel) -> f32 {
        self.row(layer, head)[..self.layout.num_prefix()]
            .iter()
            .sum()
    }
}
