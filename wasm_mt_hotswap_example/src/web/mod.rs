//! The browser half: a rayon pool on Web Workers (`pool`, with `worker` and
//! `../worker.js` on the workers' side) and the page that uses it (`page`).

mod js;
pub mod page;
mod pool;
mod worker;
