//! The method layer: the aggregate methods that give one value per token for a query (attention rollout,
//! attention flow, gradient rollout, Chefer et al.'s relevance), named once and computed once for every front
//! end. The command line (`vitscope export --method …`) and the app's worker (the Methods and Compare views)
//! both call [`compute`], and every map carries the definition text written here, so the same map states the
//! same provenance wherever it was made.
//!
//! Adding a query method: a variant of [`QueryMethod`] (its names and definition below), its arm in
//! [`compute`] calling its function in `analysis`, and its test; the CLI's `--method` value (src/cli/args.rs)
//! and the app's pickers follow from [`QueryMethod::ALL`].
pub mod faithfulness;
pub mod lens;

use serde::{Deserialize, Serialize};

use crate::analysis::{Progress, RolloutOptions, TokenMap};
use crate::engine::Engine;
use crate::export::methods::Method;
use crate::model::ModelError;

/// A method that maps a query token to one value per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QueryMethod {
    Rollout,
    Flow,
    GradRollout,
    Relevance,
}

impl QueryMethod {
    pub const ALL: [QueryMethod; 4] = [
        QueryMethod::Rollout,
        QueryMethod::Flow,
        QueryMethod::GradRollout,
        QueryMethod::Relevance,
    ];

    /// The name in the app ("Gradient rollout").
    pub fn title(self) -> &'static str {
        match self {
            QueryMethod::Rollout => "Rollout",
            QueryMethod::Flow => "Flow",
            QueryMethod::GradRollout => "Gradient rollout",
            QueryMethod::Relevance => "Relevance",
        }
    }

    /// The export vocabulary's method (its command-line and file name, `grad-rollout`).
    pub fn method(self) -> Method {
        match self {
            QueryMethod::Rollout => Method::Rollout,
            QueryMethod::Flow => Method::Flow,
            QueryMethod::GradRollout => Method::GradRollout,
            QueryMethod::Relevance => Method::Relevance,
        }
    }

    /// The query method an export method is, if it is one.
    pub fn of(method: Method) -> Option<QueryMethod> {
        QueryMethod::ALL.into_iter().find(|q| q.method() == method)
    }

    /// Whether it explains a target through the attention's gradients.
    pub fn needs_gradients(self) -> bool {
        matches!(self, QueryMethod::GradRollout | QueryMethod::Relevance)
    }

    /// What the map is, in one line: the text every PNG and every pane carries.
    pub fn definition(self, opts: &RolloutOptions, layers: usize, target: Option<&str>) -> String {
        let target = target.map(|t| format!("; target {t}")).unwrap_or_default();
        match self {
            QueryMethod::Rollout => format!("attention rollout: {}", opts.describe(layers)),
            QueryMethod::Flow => format!(
                "attention flow (exact max-flow to the query through the rollout graph): {}",
                opts.describe(layers)
            ),
            QueryMethod::GradRollout => format!(
                "gradient rollout: fused = max(mean_h(grad*A), 0), then residual alpha = {}, discard {}, rows \
                 renormalised, layers {}..={}{target}",
                opts.residual,
                opts.discard_ratio,
                opts.start_layer,
                opts.end_layer.unwrap_or(layers.saturating_sub(1)),
            ),
            QueryMethod::Relevance => {
                format!(
                    "Chefer et al. relevance: R = I; R += mean_h[(grad*A)+] R per layer{target}"
                )
            }
        }
    }
}

impl std::fmt::Display for QueryMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.title())
    }
}

/// The parameters of the query methods.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryParams {
    /// Rollout, flow and gradient rollout: head fusion, residual, discard ratio, layer range.
    pub opts: RolloutOptions,
    /// Gradient rollout and relevance: `top`, `N`, `A-B`, `sim:ROW,COL` (see [`crate::spec::parse_target`]).
    pub target: String,
}

/// One computed map with its provenance.
#[derive(Debug, Clone)]
pub struct MethodOutput {
    pub method: QueryMethod,
    pub map: TokenMap,
    pub definition: String,
    /// The gradient methods' target and its value (`class 281 "tabby, tabby cat" = 9.123456`).
    pub target: Option<String>,
    /// Time to compute this map (the gradients' forward and backward pass counted once, in the first).
    pub ms: f64,
}

/// Where a query method starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A token of the sequence (CLS, a register, a patch).
    Token(usize),
    /// The attention-pooling probe (SigLIP's MAP head): not a token; it attends once, after the last block.
    /// Only rollout is defined from it: its head-mean attention row over the final tokens, times the
    /// encoder's rollout.
    Probe,
}

/// What can stop a method.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error("nothing to explain: load a model and an image first")]
    NothingLoaded,
    #[error("{0}")]
    BadTarget(String),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Analysis(#[from] crate::analysis::AnalysisError),
    #[error("cancelled")]
    Cancelled,
    #[error(
        "{0} starts from a token of the sequence and the attention-pooling probe is not one (it attends once, \
         after the last block); only rollout is defined from the probe: click a patch for {0}"
    )]
    NotFromProbe(QueryMethod),
    #[error(
        "this model has no attention-pooling head (MAP probe): query CLS, a prefix token or a patch"
    )]
    NoProbe,
}

/// Compute `methods` from `start` on the engine's current capture, in the order given.
/// The gradient methods share one forward and backward pass. `progress` reports attention flow's work
/// (input tokens done) and carries its cancel flag. From the probe only rollout is defined; any other method
/// is [`MethodError::NotFromProbe`] before anything is computed.
pub fn compute(
    engine: &Engine,
    methods: &[QueryMethod],
    start: Start,
    params: &QueryParams,
    progress: &Progress,
) -> Result<Vec<MethodOutput>, MethodError> {
    use crate::analysis as a;
    let run = engine.run.as_ref().ok_or(MethodError::NothingLoaded)?;
    let cap = &run.capture;
    let layout = &cap.layout;
    let layers = cap.source().layers();
    let opts = &params.opts;
    let token = match start {
        Start::Token(t) => t,
        Start::Probe => {
            let pool = cap.pool_attention.as_ref().ok_or(MethodError::NoProbe)?;
            if let Some(&m) = methods.iter().find(|&&m| m != QueryMethod::Rollout) {
                return Err(MethodError::NotFromProbe(m));
            }
            let mut out = Vec::with_capacity(methods.len());
            for _ in methods {
                let t0 = std::time::Instant::now();
                let row = pool
                    .f_mean_dim(0, false, None)
                    .map_err(crate::analysis::AnalysisError::from)?;
                out.push(MethodOutput {
                    method: QueryMethod::Rollout,
                    map: a::rollout_from(cap.source(), layout, row, opts)?,
                    definition: format!(
                        "attention rollout from the attention-pooling probe: its head-mean attention row times {}",
                        opts.describe(layers)
                    ),
                    target: None,
                    ms: t0.elapsed().as_secs_f64() * 1e3,
                });
            }
            return Ok(out);
        }
    };
    let mut grads = None;
    let mut out = Vec::with_capacity(methods.len());
    for &method in methods {
        let start = std::time::Instant::now();
        if method.needs_gradients() && grads.is_none() {
            let logits = match &cap.logits {
                Some(l) => Some(a::rollout::to_vec_f32(l)?),
                None => None,
            };
            let target = crate::spec::parse_target(&params.target, layout, logits.as_deref())
                .map_err(|e| MethodError::BadTarget(format!("{e:#}")))?;
            let (g, tensors, value) = engine.gradients(&target)?;
            grads = Some((g, tensors, format!("{} = {value:.6}", target.describe())));
        }
        let map = match method {
            QueryMethod::Rollout => a::rollout(cap.source(), layout, token, opts)?,
            QueryMethod::Flow => {
                a::attention_flow_with(&cap.matrices()?, layout, token, opts, progress)?
                    .ok_or(MethodError::Cancelled)?
            }
            QueryMethod::GradRollout | QueryMethod::Relevance => {
                let (g, tensors, _) = grads.as_ref().expect("computed above");
                if method == QueryMethod::Relevance {
                    a::relevance(&g.attentions, tensors, layout, token)?
                } else {
                    a::grad_rollout(&g.attentions, tensors, layout, token, opts)?
                }
            }
        };
        let target = method
            .needs_gradients()
            .then(|| grads.as_ref().map(|g| g.2.clone()))
            .flatten();
        out.push(MethodOutput {
            method,
            definition: method.definition(opts, layers, target.as_deref()),
            target,
            map,
            ms: start.elapsed().as_secs_f64() * 1e3,
        });
    }
    Ok(out)
}
