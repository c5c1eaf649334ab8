//! # vitscope
//!
//! Look inside Vision Transformers: per-layer, per-head attention from any query token, through
//! libtorch (`tch`) on the GPU when there is one, on the CPU otherwise.
//!
//! Data flows one way:
//! ```text
//! image file ─┐
//!             ├─> model::preprocess ─> model::Vit::forward (worker thread) ─> model::Capture
//! checkpoint ─┘                                                                  │
//!                                     analysis (QueryRows: attention rows of one query, on the CPU)
//!                                                                                │
//!                                     render (grid -> RGB: colormap, normalise, overlay, tile)
//!                                           │                                    │
//!                                     ui (egui views)                     export (PNG, safetensors)
//! ```
//! Modules: [`model`] (tch only), [`analysis`], [`render`] (no tch, no egui), [`grid`], [`export`],
//! [`engine`] (the synchronous core of CLI and worker), [`methods`] (the method layer: each aggregate method
//! named, defined and computed once for both front ends), [`jobs`] (the worker thread), [`ui`] (egui only),
//! [`cli`].
//!
//! ## How failures are handled
//! - Every error a user's file or choice can cause is a typed error (`model::ModelError`,
//!   `export::ExportError`); nothing a user controls is `unwrap`ped. Checkpoints are validated once, at
//!   load, and every missing, unexpected or misshaped tensor is listed in one error.
//! - State changes are transactional ([`engine::Engine`]): a new model, image or input size replaces the
//!   old one only after a forward pass with it succeeded; a failure leaves the previous state as it was.
//! - The worker catches panics at the job boundary and reports them as errors; the app keeps running.
//! - Exports are atomic (temporary file + rename) and never overwrite silently.
//! - The command line prints one line `error: …` on stderr and exits with status 1 (2 for usage errors).
pub mod analysis;
pub mod cli;
pub mod engine;
pub mod export;
pub mod files;
pub mod grid;
pub mod jobs;
pub mod methods;
pub mod model;
pub mod render;
pub mod spec;
pub mod ui;
