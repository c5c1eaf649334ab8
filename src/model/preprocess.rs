//! Image decoding and preprocessing.
//!
//! What happens to a photo before the model sees it, exactly:
//! 1. decode with the `image` crate (format from the file's content, not its name), within explicit
//!    limits ([`MAX_IMAGE_SIDE`] per side, [`MAX_DECODE_BYTES`] of decoder memory);
//! 2. convert to 8-bit RGB (an alpha channel is dropped; grayscale is replicated to three channels);
//! 3. resize the whole image, without cropping or padding, to the input size ([`InputSize::resolve`]):
//!    by default the shorter side becomes 224 and the longer side keeps the aspect ratio, both rounded to
//!    whole patches. The filter is a separable triangle (bilinear) filter whose support grows with the
//!    reduction factor, so downscaling is antialiased (like PIL's `BILINEAR`);
//! 4. scale to 0..1 and normalise each channel with the model's mean and std:
//!    `x = (v / 255 − mean[c]) / std[c]`, laid out as `[1, 3, H, W]` f32.

use std::path::Path;

use image::{ImageReader, RgbImage, imageops::FilterType};
use serde::{Deserialize, Serialize};

use super::error::{ModelError, Result};

/// Largest accepted image side, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Most memory a decoder may allocate.
pub const MAX_DECODE_BYTES: u64 = 1 << 30;
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

impl std::str::FromStr for InputSize {
    type Err = ModelError;
    /// `224` (shorter side) or `224x336` (height × width).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || ModelError::InputSize(s.to_string());
        let num = |t: &str| -> Result<usize> {
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

/// Round `v` to the nearest positive multiple of `patch`.
fn round_to_patches(v: f64, patch: usize) -> usize {
    ((v / patch as f64).round() as usize).max(1) * patch
}

impl InputSize {
    /// The input (height, width) in pixels for an image of `img_w × img_h`, in whole patches.
    pub fn resolve(&self, img_w: u32, img_h: u32, patch: usize) -> (usize, usize) {
        match *self {
            InputSize::Exact { h, w } => (
                round_to_patches(h as f64, patch),
                round_to_patches(w as f64, patch),
            ),
            InputSize::Shorter(s) => {
                let short_px = round_to_patches(s as f64, patch);
                let (iw, ih) = (img_w.max(1) as f64, img_h.max(1) as f64);
                let scale = short_px as f64 / iw.min(ih);
                let (h, w) = (
                    round_to_patches(ih * scale, patch),
                    round_to_patches(iw * scale, patch),
                );
                (
                    h.min(MAX_INPUT_SIDE / patch * patch),
                    w.min(MAX_INPUT_SIDE / patch * patch),
                )
            }
        }
    }
}

/// Decode an image file to 8-bit RGB, within the limits above.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let err = |reason: String| ModelError::Image {
        path: path.into(),
        reason,
    };
    let mut reader = ImageReader::open(path)
        .map_err(|source| ModelError::Io {
            path: path.into(),
            source,
        })?
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    if reader.format().is_none() {
        return Err(err(
            "not an image format vitscope can read (PNG or JPEG)".into()
        ));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| err(e.to_string()))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(err("the image has no pixels".into()));
    }
    Ok(img.to_rgb8())
}

/// Resize `img` to `h × w` (see the module docs for the filter).
pub fn resize(img: &RgbImage, h: usize, w: usize) -> RgbImage {
    if (img.width() as usize, img.height() as usize) == (w, h) {
        return img.clone();
    }
    image::imageops::resize(img, w as u32, h as u32, FilterType::Triangle)
}

/// Normalise an RGB image into CHW f32 values `(v/255 − mean) / std`.
pub fn normalize(img: &RgbImage, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0f32; 3 * h * w];
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * h * w + i] = (px.0[c] as f32 / 255.0 - mean[c]) / std[c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!("224".parse::<InputSize>().unwrap(), InputSize::Shorter(224));
        assert_eq!(
            "224x336".parse::<InputSize>().unwrap(),
            InputSize::Exact { h: 224, w: 336 }
        );
        assert!("0".parse::<InputSize>().is_err());
        assert!("abc".parse::<InputSize>().is_err());
        assert!("224x".parse::<InputSize>().is_err());
        assert!("99999".parse::<InputSize>().is_err());
    }

    #[test]
    fn shorter_side_keeps_aspect_in_whole_patches() {
        // chelsea.png is 451 x 300: shorter side 300 -> 224, longer 451*224/300 = 336.7 -> 24 patches of 14.
        assert_eq!(InputSize::Shorter(224).resolve(451, 300, 14), (224, 336));
        // portrait
        assert_eq!(InputSize::Shorter(224).resolve(300, 451, 14), (336, 224));
        // 518 for DINOv2: 37 patches on the shorter side
        assert_eq!(InputSize::Shorter(518).resolve(512, 512, 14), (518, 518));
        // 224 is not a multiple of 14*? it is (16 patches); 225 rounds to 224
        assert_eq!(InputSize::Shorter(225).resolve(100, 100, 14), (224, 224));
        assert_eq!(
            InputSize::Exact { h: 30, w: 50 }.resolve(1, 1, 16),
            (32, 48)
        );
    }

    #[test]
    fn normalize_is_exact_for_a_constant_image() {
        let img = RgbImage::from_pixel(3, 2, image::Rgb([255, 0, 51]));
        let v = normalize(&img, [0.5, 0.5, 0.5], [0.5, 0.25, 0.1]);
        assert_eq!(v.len(), 18);
        assert!(v[..6].iter().all(|&x| (x - 1.0).abs() < 1e-6));
        assert!(v[6..12].iter().all(|&x| (x + 2.0).abs() < 1e-6));
        assert!(v[12..].iter().all(|&x| (x + 3.0).abs() < 1e-5));
    }
}
