//! The token layout of one forward pass: which tokens come before the patches, and the patch grid.

use serde::{Deserialize, Serialize};

/// A token that precedes the patch tokens. Order in timm and Hugging Face:
/// `[CLS, (distillation), registers…, patches]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrefixToken {
    Cls,
    Distillation,
    Register(usize),
}

impl PrefixToken {
    pub fn label(&self) -> String {
        match self {
            PrefixToken::Cls => "CLS".into(),
            PrefixToken::Distillation => "DIST".into(),
            PrefixToken::Register(i) => format!("REG{i}"),
        }
    }
}

/// Token layout: `prefix.len()` prefix tokens, then `grid_h × grid_w` patch tokens in row-major order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenLayout {
    pub prefix: Vec<PrefixToken>,
    pub grid_h: usize,
    pub grid_w: usize,
    /// Patch side in input pixels.
    pub patch_size: usize,
}

impl TokenLayout {
    pub fn num_prefix(&self) -> usize {
        self.prefix.len()
    }
    pub fn num_patches(&self) -> usize {
        self.grid_h * self.grid_w
    }
    pub fn num_tokens(&self) -> usize {
        self.num_prefix() + self.num_patches()
    }
    /// Token index of patch (row, col) of the grid.
    pub fn token_of_patch(&self, row: usize, col: usize) -> Option<usize> {
        (row < self.grid_h && col < self.grid_w)
            .then(|| self.num_prefix() + row * self.grid_w + col)
    }
    /// Patch (row, col) of a token index, `None` for prefix tokens.
    pub fn patch_of_token(&self, token: usize) -> Option<(usize, usize)> {
        let p = token.checked_sub(self.num_prefix())?;
        (p < self.num_patches()).then(|| (p / self.grid_w, p % self.grid_w))
    }
    /// The query a map starts from: the CLS token, else the first prefix token, else the centre patch (models
    /// without prefix tokens, e.g. global-average-pooled ViTs).
    pub fn default_query(&self) -> usize {
        match self.prefix.iter().position(|p| *p == PrefixToken::Cls) {
            Some(i) => i,
            None if !self.prefix.is_empty() => 0,
            None => self.num_prefix() + (self.grid_h / 2) * self.grid_w + self.grid_w / 2,
        }
    }
    /// A short human name of a token: `CLS`, `REG0`, `patch row r, col c`.
    pub fn token_label(&self, token: usize) -> String {
        match (self.prefix.get(token), self.patch_of_token(token)) {
            (Some(p), _) => p.label(),
            (None, Some((r, c))) => format!("patch row {r}, col {c}"),
            _ => format!("token {token} (out of range)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_token_round_trip_with_several_prefix_tokens() {
        let l = TokenLayout {
            prefix: vec![
                PrefixToken::Cls,
                PrefixToken::Register(0),
                PrefixToken::Register(1),
            ],
            grid_h: 3,
            grid_w: 5,
            patch_size: 14,
        };
        assert_eq!(l.num_tokens(), 18);
        assert_eq!(l.token_of_patch(0, 0), Some(3));
        assert_eq!(l.token_of_patch(2, 4), Some(17));
        assert_eq!(l.token_of_patch(3, 0), None);
        assert_eq!(l.patch_of_token(8), Some((1, 0)));
        assert_eq!(l.patch_of_token(2), None);
        assert_eq!(l.token_label(1), "REG0");
        assert_eq!(l.token_label(17), "patch row 2, col 4");
        assert_eq!(l.default_query(), 0);
        let no_prefix = TokenLayout {
            prefix: vec![],
            ..l
        };
        assert_eq!(no_prefix.default_query(), 5 + 2); // patch (1, 2) of the 3x5 grid
        assert_eq!(no_prefix.token_label(7), "patch row 1, col 2");
    }
}
