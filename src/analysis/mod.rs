//! Analysis: functions over captured tensors that produce plain data (no I/O, no egui).
pub mod attention;

pub use attention::{HeadSel, QueryRows};
