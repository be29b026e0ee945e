//! What one worker does for one render, kept free of browser types so the
//! host can test it with OS threads standing in for Web Workers.

use raytracer_core::{render_row, rows_of_worker, Scene, BYTES_PER_PIXEL};

/// One worker's share of one render: rows `worker, worker + workers, ...` of a
/// `width` x `height` RGBA image at address `ptr` in the memory all workers share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderJob {
    pub ptr: usize,
    pub width: u32,
    pub height: u32,
    pub worker: u32,
    pub workers: u32,
}

impl RenderJob {
    /// Renders this share and returns how many rows it wrote.
    ///
    /// # Safety
    ///
    /// `ptr` must point to `width * height * 4` writable bytes that stay
    /// allocated until the call returns, and no other code may touch this
    /// share's rows meanwhile. The pool guarantees both: it keeps the buffer
    /// until every worker has answered, and `rows_of_worker` hands each
    /// worker rows no other worker gets.
    pub unsafe fn run(&self, scene: &Scene) -> u32 {
        let row_len = self.width as usize * BYTES_PER_PIXEL;
        let mut rows = 0;
        for y in rows_of_worker(self.worker, self.workers, self.height) {
            // Only this row is borrowed mutably, never the whole image, so the
            // workers' borrows never overlap.
            let row = unsafe {
                std::slice::from_raw_parts_mut(
                    (self.ptr as *mut u8).add(y as usize * row_len),
                    row_len,
                )
            };
            render_row(scene, self.width, self.height, y, row);
            rows += 1;
        }
        // Publish the pixels before the reply message tells the page to read them.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        rows
    }
}

/// How many workers the pool starts: `?workers=N` if given (1..=16), else one
/// per logical core, with at least two so the page always shows threads at
/// work, and at most eight because more only adds start-up time here.
pub fn pool_size(hardware_concurrency: Option<u32>, requested: Option<&str>) -> u32 {
    if let Some(n) = requested.and_then(|s| s.trim().parse::<u32>().ok()) {
        return n.clamp(1, 16);
    }
    hardware_concurrency.unwrap_or(2).clamp(2, 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raytracer_core::{image_len, render};

    #[test]
    fn shares_rendered_concurrently_into_one_buffer_equal_a_plain_render() {
        let scene = Scene::reference();
        let (width, height, workers) = (31, 20, 3);
        let mut image = vec![0u8; image_len(width, height)];
        let ptr = image.as_mut_ptr() as usize;
        let rows: u32 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|worker| {
                    let job = RenderJob {
                        ptr,
                        width,
                        height,
                        worker,
                        workers,
                    };
                    let scene = &scene;
                    // SAFETY: `image` outlives the scope and the shares are disjoint.
                    s.spawn(move || unsafe { job.run(scene) })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(rows, height);
        assert!(image == render(&scene, width, height));
    }

    #[test]
    fn pool_size_prefers_the_query_then_the_core_count() {
        assert_eq!(pool_size(Some(12), Some("3")), 3);
        assert_eq!(pool_size(None, Some("0")), 1);
        assert_eq!(pool_size(None, Some("99")), 16);
        assert_eq!(pool_size(Some(12), Some("lots")), 8);
        assert_eq!(pool_size(Some(1), None), 2);
        assert_eq!(pool_size(None, None), 2);
        assert_eq!(pool_size(Some(4), None), 4);
    }
}
