//! The model input size the user asks for (`224`, `224x336`). No tch here: the command line's definition
//! (src/cli/args.rs), which the launcher compiles without libtorch, uses it.
use serde::{Deserialize, Serialize};

/// Largest accepted model input side, in pixels.
pub const MAX_INPUT_SIDE: usize = 4_096;

/// The model input size the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputSize {
    /// Shorter side to this many pixels, aspect ratio kept.
    Shorter(usize),
    /// Exactly this height and width.
    Exact { h: usize, w: usize },
}

impl Default for InputSize {
    fn default() -> Self {
        InputSize::Shorter(224)
    }
}

impl std::fmt::Display for InputSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputSize::Shorter(s) => write!(f, "{s}"),
            InputSize::Exact { h, w } => write!(f, "{h}x{w}"),
        }
    }
}

/// A size that is not `N` or `HxW` with sides 1..=[`MAX_INPUT_SIDE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInputSize(pub String);

impl std::fmt::Display for BadInputSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid input size {:?}: use a number like 224 (the shorter side) or HxW like 224x336",
            self.0
        )
    }
}

impl std::error::Error for BadInputSize {}

impl std::str::FromStr for InputSize {
    type Err = BadInputSize;
    /// `224` (shorter side) or `224x336` (height × width).
    fn from_str(s: &str) -> Result<Self, BadInputSize> {
        let bad = || BadInputSize(s.to_string());
        let num = |t: &str| -> Result<usize, BadInputSize> {
            let v: usize = t.trim().parse().map_err(|_| bad())?;
            if v == 0 || v > MAX_INPUT_SIDE {
                Err(bad())
            } else {
                Ok(v)
            }
        };
        match s.trim().to_ascii_lowercase().split_once(['x', '×']) {
            Some((h, w)) => Ok(InputSize::Exact {
                h: num(h)?,
                w: num(w)?,
            }),
            None => Ok(InputSize::Shorter(num(s)?)),
        }
    }
}
