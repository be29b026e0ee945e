//! The render: the image split into interleaved shares of rows, rendered in
//! parallel with rayon on whichever pool runs it (Web Workers in the browser,
//! OS threads natively), each share entering the hot code through a
//! `HotFn` boundary.

use std::sync::atomic::{AtomicU64, Ordering};

use hotswap_runtime::subsecond::HotFn;
use rayon::prelude::*;
use raytracer_core::{fnv1a64, image_len, to_rgba, BYTES_PER_PIXEL};

use crate::{scene, shade};

/// Size of the reference render whose hash is pinned below.
pub const REFERENCE_WIDTH: u32 = 64;
pub const REFERENCE_HEIGHT: u32 = 48;

/// FNV-1a 64 of the RGBA bytes of `scene::reference()` rendered at
/// `REFERENCE_WIDTH` x `REFERENCE_HEIGHT`; the page reports whether its
/// render matches. Edit the scene or the shading and it no longer does.
pub const REFERENCE_HASH: u64 = 0x3615_9f66_66af_2892;

/// Rows rendered so far, on every thread, counted by the hot code in a
/// private static: each patch counts on in the page's one copy (the patch is
/// bound to it), so the sum spans every patch.
static ROWS_RENDERED: AtomicU64 = AtomicU64::new(0);

/// How many rows every thread has rendered since the page started.
pub fn rows_rendered() -> u64 {
    ROWS_RENDERED.load(Ordering::Relaxed)
}

/// One finished render.
pub struct Frame {
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Into how many shares the rows were split: at most this many threads took part.
    pub shares: u32,
    /// Indices (in the pool) of the threads that rendered at least one share.
    pub threads_used: Vec<u32>,
}

/// Renders the scene on the current rayon pool, on at most `shares` of its threads.
///
/// Row `y` belongs to share `y % shares`, so every share gets a similar mix
/// of cheap sky rows and expensive floor rows. Each share is one rayon item:
/// rayon has no per-call thread limit, and `shares` items can keep at most
/// `shares` threads busy, which is how the page's thread slider works on a
/// pool of fixed size.
pub fn render(width: u32, height: u32, shares: u32) -> Frame {
    let shares = shares.clamp(1, height.max(1));
    let mut pixels = vec![0; image_len(width, height)];
    let mut sets: Vec<Vec<(u32, &mut [u8])>> = (0..shares).map(|_| Vec::new()).collect();
    for (y, row) in numbered_rows(&mut pixels, width) {
        sets[(y % shares) as usize].push((y, row));
    }
    let mut threads_used: Vec<u32> = sets
        .into_par_iter()
        .map(|rows| {
            // The hot boundary, entered once per job: after a patch, the next
            // job on any thread runs the new `render_rows` and all it calls.
            HotFn::current(render_rows).call((width, height, rows));
            rayon::current_thread_index().map_or(u32::MAX, |index| index as u32)
        })
        .collect();
    threads_used.sort_unstable();
    threads_used.dedup();
    Frame {
        pixels,
        width,
        height,
        shares,
        threads_used,
    }
}

/// Renders the given rows of a `width` x `height` image.
pub fn render_rows(width: u32, height: u32, rows: Vec<(u32, &mut [u8])>) {
    ROWS_RENDERED.fetch_add(rows.len() as u64, Ordering::Relaxed);
    let scene = scene::reference();
    for (y, row) in rows {
        for (x, pixel) in row.chunks_exact_mut(BYTES_PER_PIXEL).enumerate() {
            let color = shade::pixel(&scene, x as u32, y, width, height);
            pixel.copy_from_slice(&to_rgba(color));
        }
    }
}

/// The reference render done on the calling thread alone, through the hot
/// boundary: its hash tells which version of the code this thread runs.
pub fn reference_hash_on_this_thread() -> u64 {
    let (width, height) = (REFERENCE_WIDTH, REFERENCE_HEIGHT);
    let mut image = vec![0; image_len(width, height)];
    HotFn::current(render_rows).call((width, height, numbered_rows(&mut image, width)));
    fnv1a64(&image)
}

/// FNV-1a 64 of each row of a `width`-pixel-wide image, top to bottom: the
/// tests tell, row by row, which code rendered a frame.
pub fn row_hashes(pixels: &[u8], width: u32) -> Vec<u64> {
    let row_len = (width as usize * BYTES_PER_PIXEL).max(1);
    pixels.chunks_exact(row_len).map(fnv1a64).collect()
}

/// Every row of `image`, with its number.
fn numbered_rows(image: &mut [u8], width: u32) -> Vec<(u32, &mut [u8])> {
    let row_len = (width as usize * BYTES_PER_PIXEL).max(1);
    image
        .chunks_exact_mut(row_len)
        .enumerate()
        .map(|(y, row)| (y as u32, row))
        .collect()
}

/// Renders on a rayon pool of `threads` OS threads: the native side of every
/// comparison with the browser.
#[cfg(not(target_arch = "wasm32"))]
pub fn render_native(width: u32, height: u32, threads: u32) -> Frame {
    native_pool(threads).install(|| render(width, height, threads))
}

/// A rayon pool of `threads` OS threads.
#[cfg(not(target_arch = "wasm32"))]
pub fn native_pool(threads: u32) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1) as usize)
        .build()
        .unwrap_or_else(|err| panic!("cannot start {threads} threads: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use raytracer_core::hash_hex;

    fn plain(width: u32, height: u32) -> Vec<u8> {
        let mut image = vec![0; image_len(width, height)];
        render_rows(width, height, numbered_rows(&mut image, width));
        image
    }

    #[test]
    fn one_thread_alone_renders_the_reference() {
        assert_eq!(reference_hash_on_this_thread(), REFERENCE_HASH);
    }

    #[test]
    fn reference_render_matches_the_pinned_hash() {
        let frame = render_native(REFERENCE_WIDTH, REFERENCE_HEIGHT, 2);
        let hash = fnv1a64(&frame.pixels);
        assert_eq!(
            hash,
            REFERENCE_HASH,
            "reference render changed: if that was intended, set REFERENCE_HASH to 0x{}",
            hash_hex(hash)
        );
    }

    #[test]
    fn any_split_renders_the_same_pixels_as_one_thread() {
        let (width, height) = (23, 17);
        let single = plain(width, height);
        let pool = native_pool(3);
        for shares in [1, 2, 3, 5, 17, 40] {
            let frame = pool.install(|| render(width, height, shares));
            assert!(frame.pixels == single, "{shares} shares");
            assert_eq!(frame.shares, shares.min(height));
        }
    }

    #[test]
    fn row_hashes_hash_each_row_alone() {
        let (width, height) = (5, 3);
        let image = plain(width, height);
        let rows = row_hashes(&image, width);
        assert_eq!(rows.len(), height as usize);
        let row_len = width as usize * BYTES_PER_PIXEL;
        assert_eq!(rows[1], fnv1a64(&image[row_len..2 * row_len]));
    }

    #[test]
    fn shares_run_on_pool_threads_and_no_more_of_them_than_shares() {
        let pool = native_pool(4);
        let frame = pool.install(|| render(40, 64, 2));
        assert!(!frame.threads_used.is_empty());
        assert!(frame.threads_used.len() <= 2, "{:?}", frame.threads_used);
        assert!(frame.threads_used.iter().all(|&i| i < 4));
        let one = pool.install(|| render(40, 64, 1));
        assert_eq!(one.threads_used.len(), 1);
    }
}
