//! A small ray tracer (spheres, a checkered floor, two lights, shadows and
//! mirror reflections) written so that its output is bit-for-bit identical on
//! x86_64 and wasm32: only `+ - * / sqrt floor` and comparisons touch floats.
//! That lets a browser test compare a wasm render with a native one by hash.
//!
//! Work is split by rows. Row `y` goes to worker `y % workers`, so every
//! worker gets a similar mix of cheap sky rows and expensive floor rows
//! without any coordination between workers.

mod scene;
mod vec3;

use std::ops::Range;

pub use scene::{Camera, Light, Material, Object, Ray, Scene, Shape, MAX_BOUNCES};
pub use vec3::Vec3;

/// Size of the reference render whose hash is pinned below.
pub const REFERENCE_WIDTH: u32 = 64;
pub const REFERENCE_HEIGHT: u32 = 48;

/// FNV-1a 64 of the RGBA bytes of `Scene::reference()` rendered at
/// `REFERENCE_WIDTH` x `REFERENCE_HEIGHT`. The browser test checks the wasm
/// render against this same number.
pub const REFERENCE_HASH: u64 = 0x3615_9f66_66af_2892;

/// Bytes per pixel: RGBA, as `ImageData` on a canvas expects.
pub const BYTES_PER_PIXEL: usize = 4;

/// Renders one row into `row`, which must hold exactly `width` RGBA pixels.
pub fn render_row(scene: &Scene, width: u32, height: u32, y: u32, row: &mut [u8]) {
    assert_eq!(
        row.len(),
        width as usize * BYTES_PER_PIXEL,
        "row buffer size"
    );
    assert!(y < height, "row {y} outside an image {height} rows high");
    for (x, pixel) in row.chunks_exact_mut(BYTES_PER_PIXEL).enumerate() {
        pixel.copy_from_slice(&to_rgba(scene.pixel(x as u32, y, width, height)));
    }
}

/// Renders rows `rows` into `out`, which holds exactly those rows.
pub fn render_rows(scene: &Scene, width: u32, height: u32, rows: Range<u32>, out: &mut [u8]) {
    let row_len = width as usize * BYTES_PER_PIXEL;
    assert_eq!(out.len(), rows.len() * row_len, "output buffer size");
    for (y, row) in rows.zip(out.chunks_exact_mut(row_len)) {
        render_row(scene, width, height, y, row);
    }
}

/// Renders the whole image on the calling thread.
pub fn render(scene: &Scene, width: u32, height: u32) -> Vec<u8> {
    let mut image = vec![0; image_len(width, height)];
    render_rows(scene, width, height, 0..height, &mut image);
    image
}

/// The rows worker `worker` of `workers` renders: `worker, worker + workers, ...`.
pub fn rows_of_worker(worker: u32, workers: u32, height: u32) -> impl Iterator<Item = u32> {
    assert!(worker < workers, "worker {worker} of {workers}");
    (worker..height).step_by(workers as usize)
}

/// Renders on `threads` OS threads with the same row split the wasm workers use.
/// Not available on wasm32, where `std::thread::spawn` is unsupported.
pub fn render_parallel(scene: &Scene, width: u32, height: u32, threads: u32) -> Vec<u8> {
    let threads = threads.clamp(1, height.max(1));
    let mut image = vec![0; image_len(width, height)];
    let mut shares: Vec<Vec<(u32, &mut [u8])>> = (0..threads).map(|_| Vec::new()).collect();
    let rows = image.chunks_exact_mut(width as usize * BYTES_PER_PIXEL);
    for (y, row) in (0..height).zip(rows) {
        shares[(y % threads) as usize].push((y, row));
    }
    std::thread::scope(|s| {
        for share in shares {
            s.spawn(move || {
                for (y, row) in share {
                    render_row(scene, width, height, y, row);
                }
            });
        }
    });
    image
}

pub fn image_len(width: u32, height: u32) -> usize {
    width as usize * height as usize * BYTES_PER_PIXEL
}

/// Linear colour to an opaque sRGB-ish pixel. Gamma 2.0 (a square root)
/// instead of the sRGB curve because `powf` is not the same on every platform.
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

/// Hash of the reference render, as 16 lowercase hex digits (the form the page reports).
pub fn hash_hex(hash: u64) -> String {
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_render_matches_the_pinned_hash() {
        let image = render(&Scene::reference(), REFERENCE_WIDTH, REFERENCE_HEIGHT);
        let hash = fnv1a64(&image);
        assert_eq!(
            hash,
            REFERENCE_HASH,
            "reference render changed: if that was intended, set REFERENCE_HASH to 0x{}",
            hash_hex(hash)
        );
    }

    #[test]
    fn parallel_render_equals_single_threaded_for_any_thread_count() {
        let scene = Scene::reference();
        let (w, h) = (23, 17);
        let single = render(&scene, w, h);
        for threads in [1, 2, 3, 5, 17, 40] {
            assert!(
                render_parallel(&scene, w, h, threads) == single,
                "{threads} threads"
            );
        }
    }

    #[test]
    fn workers_cover_every_row_exactly_once() {
        let height = 10;
        let mut seen = vec![0; height as usize];
        for worker in 0..3 {
            for y in rows_of_worker(worker, 3, height) {
                seen[y as usize] += 1;
            }
        }
        assert_eq!(seen, vec![1; height as usize]);
    }

    #[test]
    fn render_rows_writes_only_the_given_band() {
        let scene = Scene::reference();
        let full = render(&scene, 8, 6);
        let row_len = 8 * BYTES_PER_PIXEL;
        let mut band = vec![0; 2 * row_len];
        render_rows(&scene, 8, 6, 3..5, &mut band);
        assert_eq!(band, full[3 * row_len..5 * row_len]);
    }

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
