//! The pool's safe point: a closure run once on every thread of a rayon pool.

use std::sync::Mutex;

use rayon::ThreadPool;

/// Runs `f(index)` once on every thread of `pool`, as a rayon job (so between
/// two of that thread's jobs, or while it waits inside a `join` or `scope`),
/// and hands `done` every thread's index and result, in index order, on the
/// thread that finished last. Returns at once: nothing here waits.
pub(crate) fn broadcast<R: Send + 'static>(
    pool: &ThreadPool,
    f: impl Fn(usize) -> R + Send + Sync + 'static,
    done: impl FnOnce(Vec<(u32, R)>) + Send + 'static,
) {
    let results = Mutex::new((Vec::new(), Some(done)));
    pool.spawn_broadcast(move |ctx| {
        let result = f(ctx.index());
        let mut results = results.lock().unwrap_or_else(|p| p.into_inner());
        results.0.push((ctx.index() as u32, result));
        if results.0.len() == ctx.num_threads() {
            let mut all = std::mem::take(&mut results.0);
            all.sort_unstable_by_key(|(index, _)| *index);
            if let Some(done) = results.1.take() {
                done(all);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn pool(threads: usize) -> ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    #[test]
    fn runs_once_on_every_thread_and_reports_in_index_order() {
        let pool = pool(3);
        let (tx, rx) = mpsc::channel();
        broadcast(
            &pool,
            |index| (index, rayon::current_thread_index()),
            move |all| tx.send(all).unwrap(),
        );
        let all = rx.recv().unwrap();
        assert_eq!(
            all,
            vec![(0, (0, Some(0))), (1, (1, Some(1))), (2, (2, Some(2)))]
        );
    }

    #[test]
    fn a_thread_busy_in_a_job_runs_it_once_the_job_is_done() {
        let pool = pool(2);
        let (release, wait) = mpsc::channel::<()>();
        let (started, has_started) = mpsc::channel();
        let wait = Mutex::new(wait);
        pool.spawn(move || {
            started.send(rayon::current_thread_index()).unwrap();
            wait.lock().unwrap().recv().unwrap();
        });
        let busy = has_started.recv().unwrap().unwrap() as u32;
        let (ran, ran_on) = mpsc::channel();
        let ran = Mutex::new(ran);
        let (tx, rx) = mpsc::channel();
        broadcast(
            &pool,
            move |index| ran.lock().unwrap().send(index as u32).unwrap(),
            move |all| tx.send(all).unwrap(),
        );
        // The idle thread runs it at once; the busy one cannot until its job ends.
        assert_eq!(ran_on.recv().unwrap(), 1 - busy);
        assert!(rx.try_recv().is_err());
        release.send(()).unwrap();
        assert_eq!(ran_on.recv().unwrap(), busy);
        let threads: Vec<u32> = rx.recv().unwrap().into_iter().map(|(i, ())| i).collect();
        assert_eq!(threads, vec![0, 1]);
    }
}
