//! The reusable half of the ray tracer: vectors, rays, shapes, a pinhole
//! camera, the scene's data, and turning colours into pixels. The half you
//! edit while the app runs (the scene itself, shading, the sky) lives in
//! `wasm_mt_hotswap_example`, the crate a hot patch rebuilds.
//!
//! What a ray or pixel touches is `#[inline]`: the shading that calls it is
//! in another crate, and rustc does not inline across crates otherwise (the
//! render was 2.5x slower without it).
//!
//! Everything here is bit-for-bit identical on x86_64 and wasm32: only
//! `+ - * / sqrt floor` and comparisons touch floats, which lets a browser
//! test compare a wasm render with a native one by hash.

mod scene;
mod vec3;

pub use scene::{positive, pow16, Camera, Light, Material, Object, Ray, Scene, Shape, EPSILON};
pub use vec3::Vec3;

/// Bytes per pixel: RGBA, as `ImageData` on a canvas expects.
pub const BYTES_PER_PIXEL: usize = 4;

pub fn image_len(width: u32, height: u32) -> usize {
    width as usize * height as usize * BYTES_PER_PIXEL
}

/// Linear colour to an opaque sRGB-ish pixel. Gamma 2.0 (a square root)
/// instead of the sRGB curve because `powf` is not the same on every platform.
#[inline]
pub fn to_rgba(color: Vec3) -> [u8; 4] {
    let channel = |c: f32| {
        let c = if c > 1.0 {
            1.0
        } else if c > 0.0 {
            c
        } else {
            0.0
        };
        // `as u8` truncates; + 0.5 makes it round to nearest.
        (c.sqrt() * 255.0 + 0.5) as u8
    };
    [channel(color.x), channel(color.y), channel(color.z), 255]
}

/// FNV-1a, 64 bit: trivial to reimplement in a test or in JS with BigInt.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Median of benchmark samples (mean of the middle two for an even count);
/// it ignores the odd slow run from a busy machine better than a mean does.
pub fn median_ms(samples: &[f64]) -> f64 {
    assert!(!samples.is_empty(), "no samples");
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// A render's hash as 16 lowercase hex digits (the form the page reports).
pub fn hash_hex(hash: u64) -> String {
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_are_opaque_and_clamped() {
        assert_eq!(to_rgba(Vec3::new(-1.0, 0.25, 7.0)), [0, 128, 255, 255]);
        assert_eq!(to_rgba(Vec3::new(f32::NAN, 0.0, 1.0)), [0, 0, 255, 255]);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median_ms(&[9.0, 1.0, 5.0]), 5.0);
        assert_eq!(median_ms(&[4.0, 1.0, 100.0, 2.0]), 3.0);
    }

    #[test]
    fn fnv1a64_matches_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
