//! Image loading: any bytes must decode or give an error; never panic, hang or allocate past the
//! limits in `vitscope::model::preprocess`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = vitscope::model::preprocess::decode_image(data) {
        let (w, h) = img.rgb.dimensions();
        assert!(w > 0 && h > 0);
        assert!(u64::from(w) * u64::from(h) <= vitscope::model::preprocess::MAX_IMAGE_PIXELS);
    }
});
