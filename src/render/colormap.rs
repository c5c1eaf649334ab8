//! Colormaps: perceptual maps from `colorous` (matplotlib's viridis, magma, inferno, Google's turbo)
//! and a plain gray ramp (black → white).
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum Colormap {
    #[default]
    Viridis,
    Magma,
    Inferno,
    Turbo,
    Gray,
}

impl Colormap {
    pub const ALL: [Colormap; 5] = [
        Colormap::Viridis,
        Colormap::Magma,
        Colormap::Inferno,
        Colormap::Turbo,
        Colormap::Gray,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::Magma => "magma",
            Colormap::Inferno => "inferno",
            Colormap::Turbo => "turbo",
            Colormap::Gray => "gray",
        }
    }

    /// Colour of `t` in 0..1 (clamped; NaN maps to 0).
    pub fn rgb(self, t: f32) -> [u8; 3] {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) } as f64;
        let g = match self {
            Colormap::Viridis => colorous::VIRIDIS,
            Colormap::Magma => colorous::MAGMA,
            Colormap::Inferno => colorous::INFERNO,
            Colormap::Turbo => colorous::TURBO,
            Colormap::Gray => {
                let v = (t * 255.0).round() as u8;
                return [v, v, v];
            }
        };
        let c = g.eval_continuous(t);
        [c.r, c.g, c.b]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_of_the_maps() {
        assert_eq!(Colormap::Gray.rgb(0.0), [0, 0, 0]);
        assert_eq!(Colormap::Gray.rgb(1.0), [255, 255, 255]);
        assert_eq!(Colormap::Gray.rgb(2.0), [255, 255, 255]);
        // viridis runs from dark purple to yellow
        let lo = Colormap::Viridis.rgb(0.0);
        let hi = Colormap::Viridis.rgb(1.0);
        assert!(
            lo[2] > lo[1] && hi[0] > 200 && hi[1] > 200 && hi[2] < 80,
            "{lo:?} {hi:?}"
        );
        for c in Colormap::ALL {
            assert_ne!(c.rgb(0.0), c.rgb(1.0), "{}", c.name());
        }
    }
}
